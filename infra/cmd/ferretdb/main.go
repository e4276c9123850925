// Command ferretdb is one FerretDB process of the local stack: the
// MongoDB-wire front of one service's database, over the stack's private
// PostgreSQL (package docdb). The stack runs one per service, as Kubernetes
// runs one MongoDB per service.
//
// Environment: POSTGRESQL_URL (required), LISTEN_ADDR (default
// 127.0.0.1:27017), PPROF_ADDR (net/http/pprof there; default off).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ticketing.dev/common/docdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	pgURL := getenv("POSTGRESQL_URL")
	if pgURL == "" {
		return errors.New("missing required environment variable POSTGRESQL_URL")
	}
	listen := getenv("LISTEN_ADDR")
	if listen == "" {
		listen = "127.0.0.1:27017"
	}
	if addr := getenv("PPROF_ADDR"); addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	// ERROR only: FerretDB logs every answer with ok:0 at WARN, and those
	// are the client's to report. Refused inserts (a unique key taken),
	// which it would log at ERROR, docdb demotes to DEBUG.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return docdb.Serve(ctx, pgURL, listen, log)
}
