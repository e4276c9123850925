// Package workflows checks the GitHub Actions workflows in
// .github/workflows with actionlint, the linter `make lint` runs (pinned as
// a Go tool in infra/go.mod), so a broken workflow fails before it is
// pushed.
package workflows

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/rhysd/actionlint"
)

// Lint runs actionlint on every workflow under root/.github/workflows and
// returns its findings as one error, nil when there are none.
func Lint(root string) error {
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no workflows in %s", filepath.Join(root, ".github", "workflows"))
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
