package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
)

func router() http.Handler {
	r := chi.NewRouter()
	r.Get("/api/tickets/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Post("/api/tickets", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	return r
}

func get(t *testing.T, h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRequestsAreCountedByRoutePatternNeverByPath(t *testing.T) {
	reg := metrics.NewRegistry()
	h := metrics.Instrument(reg, router())
	get(t, h, http.MethodGet, "/api/tickets/6651aa", nil)
	get(t, h, http.MethodGet, "/api/tickets/6651bb", nil)
	get(t, h, http.MethodPost, "/api/tickets", nil)
	get(t, h, http.MethodGet, "/nope/6651cc", nil)
	get(t, h, "BREW", "/api/tickets", nil)

	requests := func(route, method, status string) float64 {
		c, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range c {
			if mf.GetName() != "http_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				if l["route"] == route && l["method"] == method && l["status"] == status {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	assert.Equal(t, 2.0, requests("/api/tickets/{id}", "GET", "200"))
	assert.Equal(t, 1.0, requests("/api/tickets", "POST", "201"))
	assert.Equal(t, 1.0, requests("unmatched", "GET", "404"))
	assert.Equal(t, 1.0, requests("unmatched", "other", "405"), "an invented method is \"other\"")

	body := get(t, h, http.MethodGet, "/metrics", nil).Body.String()
	assert.Contains(t, body, `http_request_duration_seconds_bucket{method="GET",route="/api/tickets/{id}"`)
	assert.Contains(t, body, "go_goroutines ")
	assert.Contains(t, body, "process_start_time_seconds ")
	assert.NotContains(t, body, "6651", "no label carries an id")
}

func TestMetricsAreNotServedToProxiedRequests(t *testing.T) {
	h := metrics.Instrument(metrics.NewRegistry(), router())
	direct := get(t, h, http.MethodGet, "/metrics", nil)
	assert.Equal(t, http.StatusOK, direct.Code)
	proxied := get(t, h, http.MethodGet, "/metrics", http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	assert.Equal(t, http.StatusNotFound, proxied.Code, "the service's own 404, as for any unknown path")
	assert.NotContains(t, proxied.Body.String(), "go_goroutines")
}

func TestEventOutcomesAreCountedBySubjectAndGroup(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := metrics.NewEvents(reg)
	e.EventHandled(events.Handled{Subject: events.SubjectOrderCreated, QueueGroup: "g", Outcome: events.OutcomeRetried, Took: time.Millisecond})
	e.EventHandled(events.Handled{Subject: events.SubjectOrderCreated, QueueGroup: "g", Outcome: events.OutcomeAcked, Took: time.Millisecond, Redelivered: true})
	e.EventHandled(events.Handled{Subject: events.SubjectOrderCreated, QueueGroup: "g", Outcome: events.OutcomeParked})

	want := `
# HELP events_handled_total Event deliveries handled, by subject, queue group and outcome (acked, retried, parked, dropped).
# TYPE events_handled_total counter
events_handled_total{outcome="acked",queue_group="g",subject="order:created"} 1
events_handled_total{outcome="parked",queue_group="g",subject="order:created"} 1
events_handled_total{outcome="retried",queue_group="g",subject="order:created"} 1
# HELP events_redelivered_total Deliveries of events the bus had delivered before (after a failure, a lost ack or a restart), by subject and queue group.
# TYPE events_redelivered_total counter
events_redelivered_total{queue_group="g",subject="order:created"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "events_handled_total", "events_redelivered_total"))
}

func TestOutboxAndExpirationMetricsAreExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := metrics.NewOutbox(reg)
	o.Backlog(3, 90*time.Second)
	o.Published(events.SubjectTicketCreated, time.Millisecond, 20*time.Millisecond)
	o.PublishFailed(events.SubjectTicketCreated)
	x := metrics.NewExpiration(reg)
	due := time.Now()
	x.Fired(due, due.Add(700*time.Millisecond))

	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, s := range []string{
		"outbox_pending_records 3", "outbox_oldest_pending_age_seconds 90",
		`outbox_publish_duration_seconds_count{subject="ticket:created"} 1`,
		`outbox_publish_delay_seconds_count{subject="ticket:created"} 1`,
		`outbox_publish_failures_total{subject="ticket:created"} 1`,
		"expiration_lateness_seconds_count 1", `expiration_lateness_seconds_bucket{le="0.75"} 1`,
	} {
		assert.Contains(t, body, s)
	}
}

func TestANilRegistererRegistersNowhere(t *testing.T) {
	assert.NotPanics(t, func() {
		metrics.NewEvents(nil)
		metrics.NewEvents(nil) // twice: no duplicate registration
		metrics.NewOutbox(nil)
		metrics.Mongo(nil)
	})
}
