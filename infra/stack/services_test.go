package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var repo = filepath.Join("..", "..")

// workspaceModules are the folders go.work uses.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	work, err := os.ReadFile(filepath.Join(repo, "go.work"))
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*\./([a-z-]+)\s*$`).FindAllStringSubmatch(string(work), -1) {
		out = append(out, m[1])
	}
	require.NotEmpty(t, out, "go.work uses no module")
	return out
}

// The file services is the one list of services, so it must name real
// ones: a workspace module with a main package and a Kubernetes manifest.
func TestEveryListedServiceIsAWorkspaceModuleWithAMainAndAManifest(t *testing.T) {
	names := Services()
	require.NotEmpty(t, names)
	modules := workspaceModules(t)
	for i, name := range names {
		assert.Regexp(t, `^[a-z][a-z-]*$`, name, "the Makefile reads the lines that start with a letter")
		assert.NotContains(t, names[:i], name, "listed twice")
		assert.Contains(t, modules, name, "go.work uses ./%s", name)
		for _, f := range []string{name + "/go.mod", name + "/main.go", "infra/k8s/" + name + "-depl.yaml"} {
			assert.FileExists(t, filepath.Join(repo, f), "service %s", name)
		}
	}
}

// `go build` in a module's folder leaves its binary there, named like the
// folder; .gitignore keeps each such binary out of commits.
func TestGitIgnoresTheBinaryOfEveryModuleWithAMain(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, ".gitignore"))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	for _, m := range workspaceModules(t) {
		if _, err := os.Stat(filepath.Join(repo, m, "main.go")); err == nil {
			assert.True(t, slices.Contains(lines, "/"+m+"/"+m), ".gitignore has /%s/%s", m, m)
		}
	}
}
