// Package workflows checks the GitHub Actions workflows in
// .github/workflows before they are pushed: with actionlint (Lint, the
// linter `make lint` runs, pinned as a Go tool in infra/go.mod), and for
// references to what does not exist (Missing), which actionlint cannot
// know: a file, a local action, a workflow, a make target, a path filter
// that matches nothing. Its tests pin the shape of the CI workflow.
package workflows

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
)

// Dir is where GitHub reads workflows, under the repository root.
const Dir = ".github/workflows"

// Lint runs actionlint on every workflow under root/.github/workflows and
// returns its findings as one error, nil when there are none.
func Lint(root string) error {
	files, err := filepath.Glob(filepath.Join(root, Dir, "*.y*ml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no workflows in %s", filepath.Join(root, Dir))
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{})
	if err != nil {
		return fmt.Errorf("starting actionlint: %w", err)
	}
	found, err := l.LintFiles(files, nil)
	if err != nil {
		return fmt.Errorf("linting workflows: %w", err)
	}
	if len(found) > 0 {
		return errors.New(out.String())
	}
	return nil
}

// Workflow is one workflow file, parsed.
type Workflow struct {
	File string // its name in Dir
	Text string
	*actionlint.Workflow
}

// Parse parses one workflow's text.
func Parse(file, text string) (Workflow, error) {
	w, errs := actionlint.Parse([]byte(text))
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return Workflow{}, fmt.Errorf("%s: %s", file, strings.Join(msgs, "; "))
	}
	return Workflow{File: file, Text: text, Workflow: w}, nil
}

// Load parses every workflow under root, in file name order.
func Load(root string) ([]Workflow, error) {
	files, err := filepath.Glob(filepath.Join(root, Dir, "*.y*ml"))
	if err != nil {
		return nil, err
	}
	var out []Workflow
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading workflow: %w", err)
		}
		w, err := Parse(filepath.Base(f), string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// Event is the workflow's trigger by a webhook event (push,
// pull_request, workflow_run...), nil when the event does not start it.
func (w Workflow) Event(name string) *actionlint.WebhookEvent {
	for _, e := range w.On {
		if e, ok := e.(*actionlint.WebhookEvent); ok && e.EventName() == name {
			return e
		}
	}
	return nil
}

// Triggered reports whether a change to file (slash-separated, from the
// repository root) starts the workflow on event, by its paths and
// paths-ignore filters (GitHub's rules: the last matching pattern of paths
// decides, a leading ! excludes; no filter means every file).
func (w Workflow) Triggered(event, file string) bool {
	e := w.Event(event)
	if e == nil {
		return false
	}
	if !e.PathsIgnore.IsEmpty() && filterMatches(e.PathsIgnore, file) {
		return false
	}
	return e.Paths.IsEmpty() || filterMatches(e.Paths, file)
}

func filterMatches(f *actionlint.WebhookEventFilter, file string) bool {
	matched := false
	for _, p := range f.Values {
		if neg, ok := strings.CutPrefix(p.Value, "!"); ok {
			if PathMatches(neg, file) {
				matched = false
			}
		} else if PathMatches(p.Value, file) {
			matched = true
		}
	}
	return matched
}

// PathMatches reports whether file (slash-separated, from the repository
// root) matches a pattern of a workflow's path filter: * is anything but
// a slash, ** anything (**/ also none), ? and + make the character before
// them optional or repeatable, [...] is a class.
func PathMatches(pattern, file string) bool {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case strings.HasPrefix(pattern[i:], "**/"):
			re.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			re.WriteString(".*")
			i++
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?' || c == '+':
			re.WriteByte(c)
		case c == '[':
			end := strings.IndexByte(pattern[i:], ']')
			if end < 0 {
				re.WriteString(regexp.QuoteMeta(pattern[i:]))
				i = len(pattern)
				continue
			}
			re.WriteString(pattern[i : i+end+1])
			i += end
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), file)
	return err == nil && ok
}

// Steps is every step of every job, in job name order.
func (w Workflow) Steps() []*actionlint.Step {
	var out []*actionlint.Step
	for _, id := range w.JobIDs() {
		out = append(out, w.Jobs[id].Steps...)
	}
	return out
}

// JobIDs are the workflow's job ids, sorted.
func (w Workflow) JobIDs() []string {
	ids := make([]string, 0, len(w.Jobs))
	for id := range w.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Run is a step's shell script, "" for a step that uses an action.
func Run(s *actionlint.Step) string {
	if r, ok := s.Exec.(*actionlint.ExecRun); ok && r.Run != nil {
		return r.Run.Value
	}
	return ""
}

// Missing lists what the workflows refer to that does not exist under
// root, one "file: what" each:
//   - a local action or reusable workflow (uses: ./...);
//   - a working-directory, and a go-version-file, file or
//     cache-dependency-path input (the last may be a pattern: it must
//     match a file);
//   - a workflow that workflow_run waits for, by name;
//   - a make target a script runs;
//   - a path filter pattern that matches no file;
//   - anywhere in the text, comments included, a file.yaml, or a path
//     whose first folder is one of root's (infra/..., .github/...),
//     looked for from root, from Dir and from the workflow's working
//     directories.
func Missing(root string, ws []Workflow) ([]string, error) {
	files, err := repoFiles(root)
	if err != nil {
		return nil, err
	}
	targets, err := makeTargets(root)
	if err != nil {
		return nil, err
	}
	top, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	topNames := map[string]bool{}
	for _, e := range top {
		topNames[e.Name()] = true
	}
	names := map[string]bool{}
	for _, w := range ws {
		if w.Name != nil {
			names[w.Name.Value] = true
		}
	}
	exists := func(p string) bool {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
		return err == nil
	}

	var out []string
	for _, w := range ws {
		report := func(format string, args ...any) {
			out = append(out, w.File+": "+fmt.Sprintf(format, args...))
		}
		// literal is a value that names a path as it stands (no expression).
		literal := func(s *actionlint.String) (string, bool) {
			if s == nil || s.Value == "" || strings.Contains(s.Value, "${{") {
				return "", false
			}
			return strings.TrimPrefix(s.Value, "./"), true
		}
		var workDirs []string
		workDir := func(s *actionlint.String) {
			if d, ok := literal(s); ok {
				if !exists(d) {
					report("working-directory %s does not exist", s.Value)
				}
				workDirs = append(workDirs, d)
			}
		}
		for _, id := range w.JobIDs() {
			j := w.Jobs[id]
			if j.Defaults != nil && j.Defaults.Run != nil {
				workDir(j.Defaults.Run.WorkingDirectory)
			}
			if j.WorkflowCall != nil && strings.HasPrefix(j.WorkflowCall.Uses.Value, "./") {
				if p, _ := literal(j.WorkflowCall.Uses); !exists(p) {
					report("job %s uses %s, which does not exist", id, j.WorkflowCall.Uses.Value)
				}
			}
		}
		if w.Defaults != nil && w.Defaults.Run != nil {
			workDir(w.Defaults.Run.WorkingDirectory)
		}
		for _, s := range w.Steps() {
			switch e := s.Exec.(type) {
			case *actionlint.ExecRun:
				workDir(e.WorkingDirectory)
				for _, t := range makeTargetsRun(Run(s)) {
					if !targets[t] {
						report("make %s: the Makefile has no such target", t)
					}
				}
			case *actionlint.ExecAction:
				if strings.HasPrefix(e.Uses.Value, "./") {
					if p, _ := literal(e.Uses); !exists(p) {
						report("uses %s, which does not exist", e.Uses.Value)
					}
				}
				for _, name := range []string{"go-version-file", "file", "cache-dependency-path"} {
					in, ok := e.Inputs[name]
					if !ok || in.Value == nil {
						continue
					}
					p, ok := literal(in.Value)
					if !ok {
						continue
					}
					if strings.ContainsAny(p, "*?[") {
						if !slices.ContainsFunc(files, func(f string) bool { return PathMatches(p, f) }) {
							report("%s %s matches no file", name, in.Value.Value)
						}
					} else if !exists(p) {
						report("%s %s does not exist", name, in.Value.Value)
					}
				}
			}
		}
		for _, e := range w.On {
			we, ok := e.(*actionlint.WebhookEvent)
			if !ok {
				continue
			}
			for _, name := range we.Workflows {
				if !names[name.Value] {
					report("%s waits for workflow %q, which no workflow is named", we.EventName(), name.Value)
				}
			}
			for _, f := range []*actionlint.WebhookEventFilter{we.Paths, we.PathsIgnore} {
				if f.IsEmpty() {
					continue
				}
				for _, p := range f.Values {
					pattern := strings.TrimPrefix(p.Value, "!")
					if !slices.ContainsFunc(files, func(f string) bool { return PathMatches(pattern, f) }) {
						report("%s path filter %q matches no file", we.EventName(), p.Value)
					}
				}
			}
		}
		for _, ref := range mentions(w.Text) {
			first, _, nested := strings.Cut(ref, "/")
			if nested && !topNames[first] {
				continue // not a path in the repository: an action, an image, a URL
			}
			candidates := []string{ref, path.Join(Dir, ref)}
			for _, d := range workDirs {
				candidates = append(candidates, path.Join(d, ref))
			}
			if !slices.ContainsFunc(candidates, exists) {
				report("%s does not exist", ref)
			}
		}
	}
	return out, nil
}

// mentionRe finds paths in a workflow's text: a name.yaml or .yml, or a
// slash-separated path (its first folder decides whether it is one).
var mentionRe = regexp.MustCompile(`(?:\./)?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+|[A-Za-z0-9_.-]+\.ya?ml\b`)

func mentions(text string) []string {
	var out []string
	for _, m := range mentionRe.FindAllStringIndex(text, -1) {
		ref := text[m[0]:m[1]]
		// A path that goes on with a pattern or an expression is not one file.
		if next := text[m[1]:]; strings.HasPrefix(next, "/*") || strings.HasPrefix(next, "*") || strings.HasPrefix(next, "/$") {
			continue
		}
		if m[0] > 0 && strings.ContainsRune("$/*@", rune(text[m[0]-1])) {
			continue // the end of a variable's path or a pattern
		}
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(ref, "./"), "."))
	}
	return out
}

// makeRe finds a make command and its arguments, up to the end of the
// command.
var makeRe = regexp.MustCompile(`(?m)(?:^\s*|[;&|]\s*|\bsudo\s+)make\b([^;&|\n]*)`)

// exprRe is an expression, ${{ ... }}.
var exprRe = regexp.MustCompile(`\$\{\{.*?\}\}`)

// makeTargetsRun are the targets of the make commands in a script.
func makeTargetsRun(script string) []string {
	var out []string
	script = exprRe.ReplaceAllString(script, "expr")
	for _, m := range makeRe.FindAllStringSubmatch(script, -1) {
		for _, arg := range strings.Fields(m[1]) {
			if !strings.HasPrefix(arg, "-") && !strings.Contains(arg, "=") {
				out = append(out, arg)
			}
		}
	}
	return out
}

// makeTargets are the Makefile's explicit targets.
func makeTargets(root string) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return nil, fmt.Errorf("reading the Makefile: %w", err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)\s*:`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out, nil
}

// repoFiles are root's files, slash-separated, leaving out .git and what
// builds and runs leave behind (bin, .data).
func repoFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" || rel == "bin" || rel == ".data" {
				return filepath.SkipDir
			}
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the repository's files: %w", err)
	}
	return out, nil
}
