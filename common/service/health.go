package service

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Check reports whether one dependency is reachable.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// checkTimeout keeps a probe well inside Kubernetes' default 1 s... 5 s.
const checkTimeout = 2 * time.Second

// Healthz answers 200 while the process is alive.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusOK, map[string]any{"status": "ok"})
}

// Readyz answers 200 when every check passes and 503 naming the ones that
// fail, so a load balancer stops sending traffic to an instance that cannot
// reach its database or bus.
func Readyz(checks ...Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		failed := map[string]string{}
		for _, c := range checks {
			if err := c.Check(ctx); err != nil {
				failed[c.Name] = err.Error()
			}
		}
		if len(failed) > 0 {
			writeStatus(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
			return
		}
		writeStatus(w, http.StatusOK, map[string]any{"status": "ok"})
	}
}

func writeStatus(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
