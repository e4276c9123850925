package workflows

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".github", "workflows", filepath.Base(f)), b, 0o644))
	}
	return dir
}

func TestABrokenWorkflowFailsTheLint(t *testing.T) {
	for name, c := range map[string]struct{ file, old, new string }{
		"unknown key":          {"deploy.yaml", "runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04"},
		"undefined expression": {"build-push.yaml", "SERVICE=${{ matrix.service }}", "SERVICE=${{ matrix.services }}"},
		"bad event":            {"test-auth.yaml", "pull_request:", "pull_requests:"},
		"unknown runner":       {"test-orders.yaml", "runs-on: ubuntu-24.04", "runs-on: ubuntu-2404"},
		"needs an unknown job": {"test-common.yaml", "  test:\n    runs-on", "  test:\n    needs: [build]\n    runs-on"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyWorkflows(t)
			p := filepath.Join(dir, ".github", "workflows", c.file)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Contains(t, string(b), c.old)
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), c.old, c.new, 1)), 0o644))
			assert.Error(t, Lint(dir))
		})
	}
	assert.NoError(t, Lint(copyWorkflows(t)), "the unbroken copy passes")
}

// build-push builds and deploy rolls out every service of the one list
// (infra/stack/services), in that list's order.
func TestBuildPushAndDeployNameEveryListedService(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, ".github", "workflows", name))
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
