package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/stack"
)

func currentUser(r reply) map[string]any {
	cu, _ := r.Body["currentUser"].(map[string]any)
	return cu
}

func TestAuthJourneyThroughTheIngress(t *testing.T) {
	s := sharedStack(t)
	b := newBrowser(t, s.URL())
	email := uniqueEmail("journey")
	creds := map[string]string{"email": email, "password": "password1"}

	up := b.do("POST", "/api/users/signup", creds)
	require.Equal(t, 201, up.Status, up.Raw)
	assert.Equal(t, email, up.Body["email"])

	me := b.do("GET", "/api/users/currentuser", nil)
	require.Equal(t, 200, me.Status)
	require.NotNil(t, currentUser(me), me.Raw)
	assert.Equal(t, up.Body["id"], currentUser(me)["id"])

	require.Equal(t, 200, b.do("POST", "/api/users/signout", nil).Status)
	assert.JSONEq(t, `{"currentUser":null}`, b.do("GET", "/api/users/currentuser", nil).Raw)

	in := b.do("POST", "/api/users/signin", creds)
	require.Equal(t, 200, in.Status, in.Raw)
	assert.Equal(t, up.Body["id"], currentUser(b.do("GET", "/api/users/currentuser", nil))["id"])

	bad := b.do("POST", "/api/users/signin", map[string]string{"email": email, "password": "wrong-password"})
	assert.Equal(t, 400, bad.Status)
	assert.Contains(t, bad.Raw, "Invalid credentials")
}

func TestUnknownAPIRouteIs404Envelope(t *testing.T) {
	s := sharedStack(t)
	r := newBrowser(t, s.URL()).do("GET", "/api/users/nothing-here", nil)
	assert.Equal(t, 404, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, r.Raw)
}

func TestUserSignedUpBeforeARestartCanSignInAfterIt(t *testing.T) {
	t.Parallel() // a stack (or process) of its own: runs beside the others that have one
	dir := t.TempDir()
	creds := map[string]string{"email": uniqueEmail("restart"), "password": "password1"}

	first, _ := startStack(t, dir, nil)
	require.Equal(t, 201, newBrowser(t, first.URL()).do("POST", "/api/users/signup", creds).Status)
	first.Stop()

	second, _ := startStack(t, dir, nil)
	b := newBrowser(t, second.URL())
	in := b.do("POST", "/api/users/signin", creds)
	assert.Equal(t, 200, in.Status, in.Raw)
	assert.NotNil(t, currentUser(b.do("GET", "/api/users/currentuser", nil)), "the dev JWT key is kept in DATA_DIR")
}

func TestACrashedServiceIsRestarted(t *testing.T) {
	t.Parallel() // a stack (or process) of its own: runs beside the others that have one
	s, out := startStack(t, t.TempDir(), nil)
	before := s.PID("auth")
	require.NotZero(t, before)
	require.NoError(t, s.Kill("auth"))

	b := newBrowser(t, s.URL())
	require.Eventually(t, func() bool {
		return s.PID("auth") != before && b.do("GET", "/api/users/currentuser", nil).Status == 200
	}, 30*time.Second, 100*time.Millisecond)
	assert.Contains(t, out.String(), "auth exited (signal: killed); restarting")
}

func TestTakenIngressAddressFailsWithAClearMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := testConfig(t, t.TempDir(), &testkit.SyncBuffer{}, map[string]string{"INGRESS_ADDR": ln.Addr().String()})
	start := time.Now()
	_, err = stack.Start(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "INGRESS_ADDR "+ln.Addr().String()+" is not available")
	assert.Less(t, time.Since(start), 5*time.Second, "fails before building anything")
}

func TestUnwritableDataDirFailsWithAClearMessage(t *testing.T) {
	file := t.TempDir() + "/not-a-dir"
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err := stack.Start(context.Background(), testConfig(t, file+"/data", &testkit.SyncBuffer{}, nil))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "DATA_DIR "+file+"/data cannot be created"), err.Error())
}

func TestServiceThatDoesNotCompileFailsWithTheCompilerOutput(t *testing.T) {
	// A repository whose only service has a type error.
	root := t.TempDir()
	write := func(rel, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644))
	}
	manifest, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "k8s", "ingress-srv.yaml"))
	require.NoError(t, err)
	write("infra/k8s/ingress-srv.yaml", string(manifest))
	write("go.work", "go 1.26.0\n\nuse ./auth\n")
	write("auth/go.mod", "module example.test/auth\n\ngo 1.26.0\n")
	write("auth/main.go", "package main\n\nfunc main() { var n int = \"not a number\"; _ = n }\n")

	cfg := testConfig(t, t.TempDir(), &testkit.SyncBuffer{}, nil)
	cfg.Root, cfg.BinDir = root, t.TempDir()
	_, err = stack.Start(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "building services failed")
	assert.Contains(t, err.Error(), "main.go:3", "the compiler's own output, with file and line")
	assert.Contains(t, err.Error(), "cannot use \"not a number\"")
}
