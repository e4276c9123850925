package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"ticketing.dev/common/httpapi"
)

// ShutdownTimeout bounds how long in-flight requests may take to finish
// after a stop signal (Kubernetes allows 30 s before SIGKILL).
const ShutdownTimeout = 20 * time.Second

// Listen opens the TCP listener first, so a taken port fails at start with
// a clear message rather than after the service said it was up.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// inheritedFD is the first descriptor a parent passes (after stdin,
// stdout and stderr), as in systemd's socket activation.
const inheritedFD = 3

// listen opens cfg's listener: the inherited socket, or cfg.Addr().
func listen(cfg HTTP) (net.Listener, error) {
	if !cfg.Inherited {
		return Listen(cfg.Addr())
	}
	f := os.NewFile(inheritedFD, "LISTEN_FDS")
	defer f.Close() // FileListener holds a duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("LISTEN_FDS=1: descriptor %d is not a listening socket: %w", inheritedFD, err)
	}
	return ln, nil
}

// ListenAndServe listens where cfg says and serves h until ctx is done (see
// Serve), with HSTS when cfg.HSTS and pprof on cfg.PprofAddr when that is set.
func ListenAndServe(ctx context.Context, log *slog.Logger, cfg HTTP, h http.Handler) error {
	if cfg.HSTS {
		h = httpapi.HSTS(h)
	}
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		pl, err := Listen(cfg.PprofAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("PPROF_ADDR: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(pl) }()
		defer srv.Close()
		log.Info("pprof listening", "addr", pl.Addr().String())
	}
	return Serve(ctx, log, ln, h)
}

// Serve serves h on ln until ctx is done, then stops taking connections and
// waits (up to ShutdownTimeout) for in-flight requests to finish.
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down HTTP: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	return nil
}
