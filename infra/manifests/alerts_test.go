package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyAlertTree copies what CheckBusAlerts reads.
func copyAlertTree(t *testing.T, to string) {
	t.Helper()
	for _, f := range []string{BusAlerts, BusAlertTests, PrometheusK8s, Operations} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(to, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(to, f), b, 0o644))
	}
}

func TestBusAlertsReadWhatTheExporterWrites(t *testing.T) {
	s := loadOverlay(t, root)
	require.NoError(t, CheckBusAlerts(root, s))

	for name, c := range map[string]struct{ file, old, new, want string }{
		"misspelt key":          {BusAlerts, "    rules:\n", "    rulez:\n", "unknown field"},
		"metric not exported":   {BusAlerts, "jetstream_consumer_num_pending{", "jetstream_consumer_pending{", "jetstream_consumer_pending, which the exporter does not write"},
		"another job":           {BusAlerts, `count(up{job="jetstream"} == 1) < 3`, `count(up{job="nats"} == 1) < 3`, `reads job "nats"`},
		"another stream":        {BusAlerts, `jetstream_stream_total_messages{job="jetstream", stream_name="TICKETING", stream_leader=""}`, `jetstream_stream_total_messages{job="jetstream", stream_name="EVENTS", stream_leader=""}`, `reads stream "EVENTS"`},
		"bad duration":          {BusAlerts, "for: 15m", "for: 15 minutes", `for "15 minutes"`},
		"no severity":           {BusAlerts, "severity: ticket", "severity: low", `severity "low"`},
		"runbook elsewhere":     {BusAlerts, "runbook: docs/OPERATIONS.md#jetstreamdisabled", "runbook: docs/RUNBOOK.md#jetstreamdisabled", "want \"docs/OPERATIONS.md#jetstreamdisabled\""},
		"undocumented":          {Operations, "**JetStreamStorageHigh**", "JetStreamStorageHigh", "no **JetStreamStorageHigh**"},
		"not loaded":            {PrometheusK8s, "  - bus-alerts.yml\n", "", "does not load bus-alerts.yml"},
		"any job":               {BusAlerts, `jetstream_server_jetstream_disabled{job="jetstream"} == 1`, `jetstream_server_jetstream_disabled == 1`, "reads series of any job"},
		"a service metric here": {BusAlerts, `jetstream_server_jetstream_disabled{job="jetstream"} == 1`, `outbox_pending_records{job="jetstream"} > 1`, "outbox_pending_records, which the exporter does not write"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyAlertTree(t, dir)
			edit(t, dir, c.file, c.old, c.new)
			err := CheckBusAlerts(dir, s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// With promtool (Debian's prometheus package; `make monitor` installs it),
// the rules' PromQL is parsed by Prometheus itself and the alerts are run
// on the made-up series of bus-alerts.test.yml.
func TestBusAlertsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	dir := filepath.Join(root, "infra", "monitoring")
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(BusAlerts), "alerts.yml"},
		{"test", "rules", filepath.Base(BusAlertTests)},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "promtool %v:\n%s", args, out)
	}
}

func TestRuleMetricsNamesTheMetricsNotTheFunctionsOrLabels(t *testing.T) {
	got := MetricsOf(`max by (consumer_name) (deriv(jetstream_consumer_num_pending{job="jetstream", is_consumer_leader="true"}[10m])) > 0
		and count(up{job="jetstream"} == 1) < 3 or absent(up{job="jetstream"} == 1) unless jetstream_server_max_storage`)
	assert.Equal(t, []string{"jetstream_consumer_num_pending", "up", "jetstream_server_max_storage"}, got)
}

func TestMetricsOfADashboardExpressionNamesTheMetricsNotTheFunctionsOrLabels(t *testing.T) {
	got := MetricsOf(`sum by (job, le) (rate(http_request_duration_seconds_bucket{route="/x",status=~"5.."}[5m]))
		/ on (job) max without (instance) (outbox_pending_records) > 0 and up == 0 or changes(process_start_time_seconds[15m]) > 2`)
	assert.Equal(t, []string{"http_request_duration_seconds_bucket", "outbox_pending_records", "up", "process_start_time_seconds"}, got)
}
