// Package metrics holds each service's Prometheus instruments: HTTP
// requests by route pattern, events handled by subject and outcome, the
// outbox relay, MongoDB commands, expiration lateness, and the Go runtime
// and process collectors. Everything registers on a *prometheus.Registry
// the service creates and passes in, never on the global default one, so
// tests and in-process replicas each count their own.
//
// Labels are bounded: route patterns ("/api/tickets/{id}"), subjects, queue
// groups, command names, status codes; never a path, id or user. Which
// service and replica a series belongs to is the scraper's business (its
// job and instance labels), as Prometheus's conventions have it.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors (go_*, process_*: memory, goroutines, GC, CPU, open files,
// start time).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// registerer is reg, or a private registry nobody scrapes when reg is nil
// (unit tests that wire a service without metrics).
func registerer(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return prometheus.NewRegistry()
	}
	return reg
}

// Handler serves g in Prometheus's text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// Proxied reports whether r came through a proxy such as the ingress
// (ingress-nginx and the local ingress both add X-Forwarded-For). Metrics
// are for the scraper, which calls a pod directly; the client's catch-all
// route must not turn https://ticketing.dev/metrics into a public page.
func Proxied(r *http.Request) bool {
	return r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != ""
}
