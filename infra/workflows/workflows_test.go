package workflows

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/stack"
)

var root = filepath.Join("..", "..")

func TestWorkflowsPassActionlint(t *testing.T) {
	assert.NoError(t, Lint(root))
}

// copyWorkflows copies the workflows into a fresh tree and returns it.
func copyWorkflows(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(root, Dir, "*.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, Dir), 0o755))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, Dir, filepath.Base(f)), b, 0o644))
	}
	return dir
}

func TestABrokenWorkflowFailsTheLint(t *testing.T) {
	for name, c := range map[string]struct{ file, old, new string }{
		"unknown key":          {"deploy.yaml", "runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04"},
		"undefined expression": {"build-push.yaml", "SERVICE=${{ matrix.service }}", "SERVICE=${{ matrix.services }}"},
		"bad event":            {"ci.yaml", "pull_request:", "pull_requests:"},
		"unknown runner":       {"ci.yaml", "runs-on: ubuntu-24.04", "runs-on: ubuntu-2404"},
		"needs an unknown job": {"ci.yaml", "  test:\n    name:", "  test:\n    needs: [build]\n    name:"},
		"unknown matrix value": {"ci.yaml", "MODULES=${{ matrix.module }}", "MODULES=${{ matrix.modules }}"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyWorkflows(t)
			p := filepath.Join(dir, Dir, c.file)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Contains(t, string(b), c.old)
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), c.old, c.new, 1)), 0o644))
			assert.Error(t, Lint(dir))
		})
	}
	assert.NoError(t, Lint(copyWorkflows(t)), "the unbroken copy passes")
}

func load(t *testing.T) []Workflow {
	t.Helper()
	ws, err := Load(root)
	require.NoError(t, err)
	require.NotEmpty(t, ws)
	return ws
}

func find(t *testing.T, ws []Workflow, file string) Workflow {
	t.Helper()
	i := slices.IndexFunc(ws, func(w Workflow) bool { return w.File == file })
	require.GreaterOrEqual(t, i, 0, "no %s in %s", file, Dir)
	return ws[i]
}

// A workflow that names what is not there (a file in a comment, a make
// target, a workflow to wait for) misleads or fails on GitHub only;
// actionlint cannot know the repository.
func TestEveryFileActionWorkflowAndTargetTheWorkflowsNameExists(t *testing.T) {
	missing, err := Missing(root, load(t))
	require.NoError(t, err)
	assert.Empty(t, missing)
}

func TestAReferenceToWhatDoesNotExistIsFound(t *testing.T) {
	for name, c := range map[string]struct{ file, old, new, want string }{
		"a file named in a comment": {"ci.yaml", "# CI.", "# CI, with the journeys in test-e2e.yaml.",
			"ci.yaml: test-e2e.yaml does not exist"},
		"a path named in a comment": {"ci.yaml", "# CI.", "# CI, see infra/scripts/ci.sh.",
			"ci.yaml: infra/scripts/ci.sh does not exist"},
		"a local action": {"ci.yaml", "      - uses: actions/checkout@v4\n", "      - uses: ./.github/actions/setup\n",
			"ci.yaml: uses ./.github/actions/setup, which does not exist"},
		"a make target": {"ci.yaml", "run: make lint", "run: make lint-all",
			"ci.yaml: make lint-all: the Makefile has no such target"},
		"a make target after sudo": {"ci.yaml", "sudo make deps", "sudo make dependencies",
			"ci.yaml: make dependencies: the Makefile has no such target"},
		"a working directory": {"deploy.yaml", "working-directory: infra/overlays/prod", "working-directory: infra/overlay/prod",
			"deploy.yaml: working-directory infra/overlay/prod does not exist"},
		"an input file": {"ci.yaml", "go-version-file: go.work", "go-version-file: go.mod",
			"ci.yaml: go-version-file go.mod does not exist"},
		"an input pattern": {"ci.yaml", `cache-dependency-path: "**/go.sum"`, `cache-dependency-path: "**/gosum"`,
			"ci.yaml: cache-dependency-path **/gosum matches no file"},
		"a workflow waited for": {"deploy.yaml", "workflows: [build-push]", "workflows: [build-and-push]",
			`deploy.yaml: workflow_run waits for workflow "build-and-push", which no workflow is named`},
		"a path filter": {"ci.yaml", `      - "tickets/**"`, `      - "ticket/**"`,
			`ci.yaml: pull_request path filter "ticket/**" matches no file`},
	} {
		t.Run(name, func(t *testing.T) {
			ws := load(t)
			for i, w := range ws {
				if w.File != c.file {
					continue
				}
				require.Contains(t, w.Text, c.old)
				broken, err := Parse(w.File, strings.Replace(w.Text, c.old, c.new, 1))
				require.NoError(t, err)
				ws[i] = broken
			}
			missing, err := Missing(root, ws)
			require.NoError(t, err)
			assert.Contains(t, missing, c.want)
		})
	}
}

// workspaceModules are the folders go.work uses, in its order.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*\./([a-z-]+)\s*$`).FindAllStringSubmatch(string(work), -1) {
		out = append(out, m[1])
	}
	require.NotEmpty(t, out, "go.work uses no module")
	return out
}

// One workflow checks every change that any check covers, whatever part
// of the repository it touches: lint and the e2e journeys cover every
// module, so a change to one service runs them too.
func TestOneCIWorkflowChecksEveryPullRequestAndPushThatTouchesCodeManifestsWorkflowsOrTheMakefile(t *testing.T) {
	ws := load(t)
	var onPR []string
	for _, w := range ws {
		if w.Event("pull_request") != nil || w.Event("pull_request_target") != nil {
			onPR = append(onPR, w.File)
		}
	}
	assert.Equal(t, []string{"ci.yaml"}, onPR, "one workflow checks pull requests")

	ci := find(t, ws, "ci.yaml")
	assert.True(t, strings.HasPrefix(ci.Text, "# "), "the workflow says its triggers at its top")
	pr, push := ci.Event("pull_request"), ci.Event("push")
	require.NotNil(t, pr)
	require.NotNil(t, push, "pushes are checked too")
	values := func(f *actionlint.WebhookEventFilter) []string {
		if f.IsEmpty() {
			return nil
		}
		var out []string
		for _, v := range f.Values {
			out = append(out, v.Value)
		}
		return out
	}
	assert.Equal(t, values(pr.Paths), values(push.Paths), "a push is checked for the same files as a pull request")
	assert.Equal(t, values(pr.PathsIgnore), values(push.PathsIgnore))
	assert.Equal(t, []string{"**"}, values(push.Branches), "a push to any branch")
	assert.Empty(t, values(push.BranchesIgnore))

	changed := []string{"Makefile", "go.work", "go.work.sum", ".ci/run", "skaffold.yaml", "Dockerfile", "README.md", ".gitignore",
		"tools/new/main.go"}
	for _, m := range workspaceModules(t) {
		changed = append(changed, m+"/go.mod", m+"/go.sum", m+"/x.go", m+"/templates/page.html", m+"/testdata/fuzz/F/seed")
	}
	for _, pattern := range []string{"infra/k8s/*", "infra/overlays/*/*", Dir + "/*", "infra/stack/services"} {
		files, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		require.NotEmpty(t, files, pattern)
		for _, f := range files {
			rel, _ := filepath.Rel(root, f)
			changed = append(changed, filepath.ToSlash(rel))
		}
	}
	for _, f := range changed {
		assert.True(t, ci.Triggered("pull_request", f), "a pull request changing %s is checked", f)
		assert.True(t, ci.Triggered("push", f), "a push changing %s is checked", f)
	}
	assert.False(t, ci.Triggered("pull_request", "docs/CONTRACT.md"), "a change to docs alone runs nothing")
}

// The CI runs what `make all` (.ci/run) runs: lint, build and every
// module's tests, which hold the manifest checks (infra/manifests) and the
// e2e journeys (infra/e2e).
func TestCIRunsLintBuildAndTheTestsOfEveryModule(t *testing.T) {
	ci := find(t, load(t), "ci.yaml")
	var runs []string
	for _, s := range ci.Steps() {
		runs = append(runs, strings.TrimSpace(Run(s)))
	}
	assert.Contains(t, runs, "make lint")
	assert.Contains(t, runs, "make build")

	var tested bool
	for _, id := range ci.JobIDs() {
		j := ci.Jobs[id]
		i := slices.IndexFunc(j.Steps, func(s *actionlint.Step) bool { return strings.HasPrefix(strings.TrimSpace(Run(s)), "make test") })
		if i < 0 {
			continue
		}
		tested = true
		assert.Equal(t, "make test MODULES=${{ matrix.module }}", strings.TrimSpace(Run(j.Steps[i])), "job %s", id)
		require.NotNil(t, j.Strategy, "job %s runs one module per matrix entry", id)
		require.NotNil(t, j.Strategy.Matrix)
		row := j.Strategy.Matrix.Rows["module"]
		require.NotNil(t, row, "job %s: a module row", id)
		var modules []string
		for _, v := range row.Values {
			s, ok := v.(*actionlint.RawYAMLString)
			require.True(t, ok, "job %s: module %v", id, v)
			modules = append(modules, s.Value)
		}
		assert.Equal(t, workspaceModules(t), modules, "job %s tests every module of go.work", id)
		assert.Nil(t, j.Strategy.Matrix.Exclude, "job %s leaves no module out", id)
		assert.True(t, slices.ContainsFunc(j.Steps[:i], func(s *actionlint.Step) bool { return strings.TrimSpace(Run(s)) == "sudo make deps" }),
			"job %s installs the system packages first (make test alone only names them when not root)", id)
	}
	assert.True(t, tested, "a job runs make test")
}

func TestPathFiltersMatchAsGitHubMatchesThem(t *testing.T) {
	for _, c := range []struct {
		pattern, file string
		want          bool
	}{
		{"**.go", "main.go", true},
		{"**.go", "auth/internal/x.go", true},
		{"**.go", "auth/x.gox", false},
		{"**/go.mod", "go.mod", true},
		{"**/go.mod", "infra/go.mod", true},
		{"auth/**", "auth/templates/a.html", true},
		{"auth/**", "authz/x.go", false},
		{"infra/k8s/*.yaml", "infra/k8s/auth-depl.yaml", true},
		{"infra/k8s/*.yaml", "infra/k8s/sub/x.yaml", false},
		{"Makefile", "Makefile", true},
		{"Makefile", "infra/Makefile", false},
		{"docs/*.md", "docs/a.md", true},
		{"file?.txt", "file.txt", true},
		{"[ab]*.go", "a1.go", true},
		{"[ab]*.go", "c1.go", false},
	} {
		assert.Equal(t, c.want, PathMatches(c.pattern, c.file), "%s ~ %s", c.pattern, c.file)
	}
}

// build-push builds and deploy rolls out every service of the one list
// (infra/stack/services), in that list's order.
func TestBuildPushAndDeployNameEveryListedService(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, Dir, name))
		require.NoError(t, err)
		return string(b)
	}
	want := stack.Services()
	matrix := regexp.MustCompile(`(?m)^\s+service: \[(.*)\]$`).FindStringSubmatch(read("build-push.yaml"))
	require.NotNil(t, matrix, "build-push.yaml has a service matrix")
	assert.Equal(t, want, strings.Split(matrix[1], ", "), "build-push.yaml's matrix")
	loops := regexp.MustCompile(`(?m)^\s+for s in (.*); do$`).FindAllStringSubmatch(read("deploy.yaml"), -1)
	require.Len(t, loops, 2, "deploy.yaml points the overlay at each image and waits for each rollout")
	for _, l := range loops {
		assert.Equal(t, want, strings.Fields(l[1]), "deploy.yaml: for s in %s", l[1])
	}
}
