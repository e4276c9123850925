package manifests

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

var missingRe = regexp.MustCompile(`missing required environment variable (\w+)`)

// badPort makes every service stop at its configuration, after naming all
// it finds wrong, instead of starting.
const badPort = "PORT=not-a-port"

// RequiredEnv asks each service which variables it requires: it runs the
// service's binary (built from root into binDir) with nothing set but an
// invalid PORT, and reads the lines it refuses to start with. The list thus
// comes from the services' own config code, not from a copy that could drift.
func RequiredEnv(ctx context.Context, root, binDir string, services []string) (map[string][]string, error) {
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, s := range services {
		args = append(args, "./"+s)
	}
	build := exec.CommandContext(ctx, "go", args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building services: %v\n%s", err, out)
	}
	required := map[string][]string{}
	for _, s := range services {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cmd := exec.CommandContext(rctx, filepath.Join(binDir, s))
		cmd.Env = []string{badPort}
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), `PORT="not-a-port"`) {
			return nil, fmt.Errorf("%s did not refuse an invalid PORT at start (err %v): %s", s, err, out)
		}
		required[s] = []string{}
		for _, m := range missingRe.FindAllStringSubmatch(string(out), -1) {
			required[s] = append(required[s], m[1])
		}
	}
	return required, nil
}
