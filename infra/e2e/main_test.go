// Package e2e drives the whole app through the ingress only, with a cookie
// jar per user, as a browser would. The stack is the same one `make run`
// starts, on free ports and a temporary DATA_DIR.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/stack"
)

// shared is the stack most journeys use; started once for the binary.
var shared struct {
	once   sync.Once
	stack  *stack.Stack
	err    error
	binDir string
	out    *testkit.SyncBuffer
}

func TestMain(m *testing.M) {
	binDir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.binDir = binDir
	code := m.Run()
	if shared.stack != nil {
		shared.stack.Stop()
	}
	if replicated.stack != nil {
		replicated.stack.Stop()
	}
	if observed.stack != nil {
		observed.stack.Stop()
	}
	if onJetStream.stack != nil {
		onJetStream.stack.Stop()
	}
	os.RemoveAll(binDir)
	os.Exit(code)
}

func repoRoot(t testing.TB) string {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// testConfig is a stack on free ports with its data in dataDir.
func testConfig(t testing.TB, dataDir string, out io.Writer, env map[string]string) stack.Config {
	t.Helper()
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k {
		case "DATA_DIR":
			return dataDir
		case "INGRESS_ADDR", "NATS_ADDR":
			return "127.0.0.1:0"
		}
		return ""
	}
	cfg, err := stack.ConfigFromEnv(getenv, repoRoot(t), out)
	require.NoError(t, err)
	cfg.BinDir = shared.binDir // build once per test binary
	return cfg
}

// startStack starts a stack for one test, stopped when the test ends.
func startStack(t *testing.T, dataDir string, env map[string]string) (*stack.Stack, *testkit.SyncBuffer) {
	t.Helper()
	out := &testkit.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := startWith(ctx, t, testConfig(t, dataDir, out, env), out)
	if err != nil {
		t.Fatalf("starting stack: %v\n%s", err, out)
	}
	return s, out
}

// startWith starts a stack from cfg, stopped when the test ends (with its
// output logged if the test failed).
func startWith(ctx context.Context, t *testing.T, cfg stack.Config, out *testkit.SyncBuffer) (*stack.Stack, error) {
	t.Helper()
	s, err := stack.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("stack output:\n%s", out)
		}
	})
	return s, nil
}

// sharedStack returns the binary's shared stack.
func sharedStack(t *testing.T) *stack.Stack {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-data-")
		if err != nil {
			shared.err = err
			return
		}
		shared.out = &testkit.SyncBuffer{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.stack, shared.err = stack.Start(ctx, testConfig(t, dir, shared.out, nil))
	})
	if shared.err != nil {
		t.Fatalf("starting stack: %v\n%s", shared.err, shared.out)
	}
	return shared.stack
}

// browser is one user's HTTP client with its own cookie jar.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

type reply struct {
	Status int
	Body   map[string]any
	List   []map[string]any
	Raw    string
}

func (b *browser) do(method, path string, body any) reply {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(b.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	require.NoError(b.t, err)
	req.Host = "ticketing.dev"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	r := reply{Status: resp.StatusCode, Raw: string(raw)}
	if strings.HasPrefix(strings.TrimSpace(r.Raw), "[") {
		_ = json.Unmarshal(raw, &r.List)
	} else {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d@test.com", prefix, time.Now().UnixNano())
}
