// Command localstack runs the whole app on this machine (`make run`): see
// package stack. REPLICAS=N (1 to 8, default 1) runs N processes of every
// service behind a round-robin load balancer per service. It prints one
// line `ready: http://<INGRESS_ADDR>` when every replica of every service is
// ready and stops everything on Ctrl-C or SIGTERM.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"ticketing.dev/infra/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	root, err := repoRoot(getenv)
	if err != nil {
		return err
	}
	cfg, err := stack.ConfigFromEnv(getenv, root, stdout)
	if err != nil {
		return err
	}
	s, err := stack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ready: %s\n", s.URL())
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	s.Stop()
	return nil
}

// repoRoot is STACK_ROOT, or the working directory (make run's), which must
// hold go.work.
func repoRoot(getenv func(string) string) (string, error) {
	root := getenv("STACK_ROOT")
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		root = wd
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		return "", fmt.Errorf("%s is not the repository root (no go.work); run `make run` there or set STACK_ROOT", root)
	}
	return root, nil
}
