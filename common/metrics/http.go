package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"ticketing.dev/common/httpapi"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// MetricsPath is where every service serves its metrics, on its own port.
const MetricsPath = "/metrics"

// httpMetrics times the requests a service answers.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTP(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern and method.",
			// From a cached GET to a payment waiting for its order's outcome (10 s).
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
	}
	registerer(reg).MustRegister(m.requests, m.duration)
	return m
}

// Instrument serves reg's metrics on GET /metrics to direct callers (a
// proxied request goes on to h, which answers its own 404) and counts and
// times every other request h answers by its chi route pattern. h is
// usually a chi router; requests it does not route are labelled
// route="unmatched", so unknown paths never become label values.
func Instrument(reg *prometheus.Registry, h http.Handler) http.Handler {
	m := newHTTP(reg)
	scrape := Handler(reg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == MetricsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !Proxied(r) {
			scrape.ServeHTTP(w, r)
			return
		}
		m.serve(w, r, h)
	})
}

func (m *httpMetrics) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	// A route context made here is the one chi's router fills in (it
	// reuses a context it finds), so the matched pattern is readable
	// after the request.
	rctx := chi.NewRouteContext()
	if routes, ok := h.(chi.Routes); ok {
		rctx.Routes = routes
	}
	r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
	sw := &httpapi.StatusWriter{ResponseWriter: w}
	start := time.Now()
	defer func() {
		route := rctx.RoutePattern()
		if route == "" || route == "/*" {
			route = "unmatched"
		}
		method := methodLabel(r.Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(sw.Status())).Inc()
		m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}()
	h.ServeHTTP(sw, r)
}

// methodLabel keeps the method label to the methods HTTP defines, so a
// client inventing methods cannot grow the label set.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
