package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/manifests"
	"ticketing.dev/infra/stack"
)

// observed is a stack of its own for the operations tests, with debug logs
// (one access line per request) and orders that expire after 2 s, and the
// metrics of every service before and after one journey through it.
var observed struct {
	once          sync.Once
	stack         *stack.Stack
	out           *testkit.SyncBuffer
	err           error
	email         string
	before, after map[string]families
}

// families is one scrape: metric families by name.
type families map[string]*dto.MetricFamily

// journeyWindow is the orders' expiry window on the observed stack.
const journeyWindow = 2 * time.Second

// observedStack starts the operations stack and drives its journey once
// per test binary: sign up, sell a ticket, reserve it, let the order
// expire, open the home page.
func observedStack(t *testing.T) *stack.Stack {
	t.Helper()
	observed.once.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-ops-")
		if err != nil {
			observed.err = err
			return
		}
		observed.out = &testkit.SyncBuffer{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cfg := testConfig(t, dir, observed.out, map[string]string{"LOG_LEVEL": "debug", "EXPIRATION_WINDOW": journeyWindow.String()})
		observed.stack, observed.err = stack.Start(ctx, cfg)
		if observed.err == nil {
			observed.err = journey(t, observed.stack)
		}
	})
	if observed.err != nil {
		t.Fatalf("operations stack: %v\n%s", observed.err, observed.out)
	}
	return observed.stack
}

// journey drives one purchase that expires and scrapes every service
// before and after; it waits until the events it caused were handled.
func journey(t *testing.T, s *stack.Stack) error {
	observed.before = scrapeAll(t, s)
	b := newBrowser(t, s.URL())
	observed.email = uniqueEmail("ops")
	if r := b.do("POST", "/api/users/signup", map[string]string{"email": observed.email, "password": "password1"}); r.Status != 201 {
		return fmt.Errorf("signup: %d %s", r.Status, r.Raw)
	}
	// A seller cannot buy their own ticket: the buyer is someone else.
	buyer := newBrowser(t, s.URL())
	if r := buyer.do("POST", "/api/users/signup", map[string]string{"email": uniqueEmail("ops-buyer"), "password": "password1"}); r.Status != 201 {
		return fmt.Errorf("buyer signup: %d %s", r.Status, r.Raw)
	}
	tk := b.do("POST", "/api/tickets", map[string]any{"title": "observed gig", "price": 20})
	if tk.Status != 201 {
		return fmt.Errorf("create ticket: %d %s", tk.Status, tk.Raw)
	}
	// The order needs orders' replica of the ticket.
	if err := waitFor(s, "orders", `events_handled_total{subject="ticket:created",queue_group="orders-service",outcome="acked"}`, 1); err != nil {
		return err
	}
	if r := buyer.do("POST", "/api/orders", map[string]any{"ticketId": tk.Body["id"]}); r.Status != 201 {
		return fmt.Errorf("create order: %d %s", r.Status, r.Raw)
	}
	// Expired, cancelled, and the ticket released.
	for _, w := range []struct{ svc, series string }{
		{"expiration", `expiration_lateness_seconds_count`},
		{"orders", `events_handled_total{subject="expiration:complete",queue_group="orders-service",outcome="acked"}`},
		{"tickets", `events_handled_total{subject="order:cancelled",queue_group="tickets-service",outcome="acked"}`},
		{"payments", `events_handled_total{subject="order:cancelled",queue_group="payments-service",outcome="acked"}`},
	} {
		if err := waitFor(s, w.svc, w.series, 1); err != nil {
			return err
		}
	}
	if r := b.do("GET", "/", nil); r.Status != 200 {
		return fmt.Errorf("home page: %d", r.Status)
	}
	time.Sleep(500 * time.Millisecond) // stragglers (a duplicate would show now)
	observed.after = scrapeAll(t, s)
	return nil
}

// waitFor polls svc's metrics until series reaches want.
func waitFor(s *stack.Stack, svc, series string, want float64) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		f, err := scrape(s.MetricsURL(svc, 0))
		if err == nil && value(f, series) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s did not reach %v within 20 s (scrape error: %v)", svc, series, want, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func scrapeAll(t *testing.T, s *stack.Stack) map[string]families {
	t.Helper()
	out := map[string]families{}
	for _, svc := range s.Services() {
		f, err := scrape(s.MetricsURL(svc, 0))
		require.NoError(t, err, svc)
		out[svc] = f
	}
	return out
}

func scrape(url string) (families, error) {
	return bench.ScrapeMetrics(context.Background(), url)
}

// seriesRE splits `name{a="x",b="y"}`.
var seriesRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$`)

// value is one series' value: a counter's or gauge's, or a histogram's
// _count or _sum; 0 when absent. Labels not named are not matched on.
func value(f families, series string) float64 {
	m := seriesRE.FindStringSubmatch(series)
	if m == nil {
		panic("bad series " + series)
	}
	name, want := m[1], map[string]string{}
	if m[2] != "" {
		for kv := range strings.SplitSeq(m[2], ",") {
			k, v, _ := strings.Cut(kv, "=")
			want[k] = strings.Trim(v, `"`)
		}
	}
	part := ""
	if mf, ok := f[name]; !ok || mf.GetType() == dto.MetricType_HISTOGRAM {
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				name, part = base, suffix
			}
		}
	}
	mf, ok := f[name]
	if !ok {
		return 0
	}
	var total float64
	for _, metric := range mf.GetMetric() {
		if !labelsMatch(metric, want) {
			continue
		}
		switch {
		case metric.Counter != nil:
			total += metric.GetCounter().GetValue()
		case metric.Gauge != nil:
			total += metric.GetGauge().GetValue()
		case metric.Histogram != nil && part == "_sum":
			total += metric.GetHistogram().GetSampleSum()
		case metric.Histogram != nil:
			total += float64(metric.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestEveryServiceCountsWhatOneJourneyDidByRouteAndSubjectAndNoLabelCarriesAnID(t *testing.T) {
	s := observedStack(t)
	moved := func(svc, series string) float64 {
		return value(observed.after[svc], series) - value(observed.before[svc], series)
	}
	for _, c := range []struct {
		svc, series string
		by          float64
	}{
		{"auth", `http_requests_total{route="/api/users/signup",method="POST",status="201"}`, 2},
		{"tickets", `http_requests_total{route="/api/tickets",method="POST",status="201"}`, 1},
		{"orders", `http_requests_total{route="/api/orders",method="POST",status="201"}`, 1},
		{"client", `http_requests_total{route="/",method="GET",status="200"}`, 1},
		{"tickets", `http_request_duration_seconds_count{route="/api/tickets",method="POST"}`, 1},
		{"tickets", `outbox_publish_duration_seconds_count{subject="ticket:created"}`, 1},
		{"tickets", `outbox_publish_delay_seconds_count{subject="ticket:created"}`, 1},
		{"orders", `outbox_publish_duration_seconds_count{subject="order:created"}`, 1},
		{"orders", `outbox_publish_duration_seconds_count{subject="order:cancelled"}`, 1},
		{"orders", `events_handled_total{subject="ticket:created",queue_group="orders-service",outcome="acked"}`, 1},
		{"tickets", `events_handled_total{subject="order:created",queue_group="tickets-service",outcome="acked"}`, 1},
		{"payments", `events_handled_total{subject="order:created",queue_group="payments-service",outcome="acked"}`, 1},
		{"expiration", `events_handled_total{subject="order:created",queue_group="expiration-service",outcome="acked"}`, 1},
		{"orders", `events_handled_total{subject="expiration:complete",queue_group="orders-service",outcome="acked"}`, 1},
		{"expiration", `expiration_lateness_seconds_count`, 1},
		{"orders", `events_handled_total{outcome="parked"}`, 0},
	} {
		assert.Equal(t, c.by, moved(c.svc, c.series), "%s %s", c.svc, c.series)
	}
	lateness := value(observed.after["expiration"], "expiration_lateness_seconds_sum")
	assert.True(t, lateness >= 0 && lateness < 3, "expired %.2f s after expiresAt", lateness)

	for _, svc := range s.Services() {
		f := observed.after[svc]
		for _, name := range []string{"go_goroutines", "process_start_time_seconds", "process_resident_memory_bytes", "http_requests_total"} {
			assert.Contains(t, f, name, svc)
		}
		if svc != "client" && svc != "expiration" {
			assert.Positive(t, value(f, `mongodb_command_duration_seconds_count{outcome="ok"}`), "%s times its database commands", svc)
		}
	}

	// Label values are patterns, subjects, groups, codes: never an id or
	// a user.
	hexID := regexp.MustCompile(`[0-9a-f]{24}`)
	for svc, f := range observed.after {
		for _, mf := range f {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					assert.False(t, hexID.MatchString(l.GetValue()), "%s %s{%s=%q}", svc, mf.GetName(), l.GetName(), l.GetValue())
					assert.NotContains(t, l.GetValue(), observed.email, "%s %s", svc, mf.GetName())
				}
			}
		}
	}

	// Metrics are for the scraper only: through the ingress, /metrics is
	// an unknown page of the client.
	resp, err := http.Get(s.URL() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.NotContains(t, string(body), "go_goroutines")
}

func TestCallersRequestIDComesBackAndIsLoggedByEveryServiceItTouched(t *testing.T) {
	s := observedStack(t)
	id := fmt.Sprintf("e2e-rid-%d", time.Now().UnixNano())
	req, err := http.NewRequest("GET", s.URL()+"/", nil) // the client asks auth and tickets
	require.NoError(t, err)
	req.Header.Set("X-Request-ID", id)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{id}, resp.Header.Values("X-Request-ID"))

	logged := func() map[string]int {
		n := map[string]int{}
		for line := range strings.SplitSeq(observed.out.String(), "\n") {
			if strings.Contains(line, `"requestId":"`+id+`"`) {
				n[strings.TrimSpace(strings.SplitN(line, "|", 2)[0])]++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { n := logged(); return n["client"] > 0 && n["auth"] > 0 && n["tickets"] > 0 },
		5*time.Second, 100*time.Millisecond, "log lines with the id: %v", logged())

	// Without one, the ingress makes one, and that is what is logged.
	resp, err = http.Get(s.URL() + "/api/users/currentuser")
	require.NoError(t, err)
	resp.Body.Close()
	made := resp.Header.Get("X-Request-ID")
	require.NotEmpty(t, made)
	assert.Eventually(t, func() bool { return strings.Contains(observed.out.String(), `"requestId":"`+made+`"`) },
		5*time.Second, 100*time.Millisecond)
}

func TestDashboardAndAlertsUseOnlyMetricsTheServicesExport(t *testing.T) {
	observedStack(t)
	dir := filepath.Join(repoRoot(t), "infra", "monitoring")

	var exprs []string
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "dashboard.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &dash))
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	// Strict: a misspelt key in the rule file fails here too.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	raw, err = os.ReadFile(filepath.Join(dir, "alerts.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(raw, &rules))
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			exprs = append(exprs, r.Expr)
		}
	}
	for _, want := range []string{"HighErrorRate", "OutboxBacklogGrowing", "EventsParked", "ExpirationLate", "ServiceRestarting"} {
		assert.Contains(t, alerts, want)
	}

	// Every name exported by some service, histograms with their series.
	exported := map[string]bool{"up": true} // made by Prometheus for each target
	for _, f := range observed.after {
		for name, mf := range f {
			exported[name] = true
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				exported[name+"_bucket"], exported[name+"_count"], exported[name+"_sum"] = true, true, true
			}
		}
	}
	used := 0
	for _, e := range exprs {
		names := manifests.MetricsOf(e)
		assert.NotEmpty(t, names, "no metric in %q", e)
		for _, n := range names {
			used++
			assert.True(t, exported[n], "%s (in %q) is not exported by any service", n, strings.TrimSpace(e))
		}
	}
	assert.Greater(t, used, 20)
}
