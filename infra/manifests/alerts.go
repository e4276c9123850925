package manifests

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

// BusAlerts are production's bus alert rules, beside the services' own
// (alerts.yml, which the end-to-end tests hold to what the services
// export); PrometheusK8s is the in-cluster scrape config that loads both.
const (
	BusAlerts     = "infra/monitoring/bus-alerts.yml"
	BusAlertTests = "infra/monitoring/bus-alerts.test.yml"
	PrometheusK8s = "infra/monitoring/prometheus-k8s.yml"
	Operations    = "docs/OPERATIONS.md"
)

// exporterMetrics are the series prometheus-nats-exporter writes with
// -jsz=all and no -prefix (its collector/jsz.go), and Prometheus's own up.
var exporterMetrics = []string{
	"up",
	"jetstream_server_jetstream_disabled", "jetstream_server_total_streams", "jetstream_server_total_consumers",
	"jetstream_server_total_messages", "jetstream_server_total_message_bytes", "jetstream_server_max_memory",
	"jetstream_server_max_storage",
	"jetstream_stream_total_messages", "jetstream_stream_total_bytes", "jetstream_stream_first_seq",
	"jetstream_stream_last_seq", "jetstream_stream_consumer_count",
	"jetstream_consumer_delivered_consumer_seq", "jetstream_consumer_delivered_stream_seq",
	"jetstream_consumer_num_ack_pending", "jetstream_consumer_num_redelivered", "jetstream_consumer_num_waiting",
	"jetstream_consumer_num_pending", "jetstream_consumer_ack_floor_stream_seq", "jetstream_consumer_ack_floor_consumer_seq",
}

// streamName is the one stream of docs/CONTRACT.md §3a.
const streamName = "TICKETING"

// RuleFile is a Prometheus rule file.
type RuleFile struct {
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

// promqlWords are PromQL's functions, aggregations and keywords: every
// other identifier outside labels, strings and ranges names a metric.
var promqlWords = []string{
	"sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile", "stddev", "by", "without", "on",
	"ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "rate", "irate",
	"increase", "delta", "deriv", "changes", "resets", "histogram_quantile", "max_over_time",
	"min_over_time", "avg_over_time", "sum_over_time", "absent", "absent_over_time", "clamp_min",
	"clamp_max", "label_replace", "vector", "scalar", "time", "abs", "round",
}

// MetricsOf lists the metric names a PromQL expression reads (alert
// rules here, the dashboard's panels in the e2e tests).
func MetricsOf(expr string) []string {
	for _, re := range []string{`"[^"]*"`, `\{[^}]*\}`, `\[[^\]]*\]`, `\b(by|without|on|ignoring)\s*\([^)]*\)`} {
		expr = regexp.MustCompile(re).ReplaceAllString(expr, " ")
	}
	var names []string
	for _, w := range regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`).FindAllString(expr, -1) {
		if !slices.Contains(promqlWords, w) && !slices.Contains(names, w) {
			names = append(names, w)
		}
	}
	return names
}

var (
	jobRe    = regexp.MustCompile(`\bjob\s*=\s*"([^"]*)"`)
	streamRe = regexp.MustCompile(`\bstream_name\s*=\s*"([^"]*)"`)
)

// CheckBusAlerts holds the bus alert rules at root to the rendered
// production overlay s: the file is read strictly, Prometheus's in-cluster
// config loads it, every rule has a duration Prometheus reads, a severity
// (page or ticket), a summary and a runbook that docs/OPERATIONS.md
// answers; every expression reads only series the exporter writes, of the
// job Prometheus gives the bus's pods (their app label) and the stream the
// services create.
func CheckBusAlerts(root string, s *Set) error {
	data, err := os.ReadFile(filepath.Join(root, BusAlerts))
	if err != nil {
		return err
	}
	var rules RuleFile
	if err := yaml.UnmarshalStrict(data, &rules); err != nil {
		return fmt.Errorf("%s: %w", BusAlerts, err)
	}
	var errs []error
	var prom struct {
		RuleFiles []string `json:"rule_files"`
	}
	if data, err := os.ReadFile(filepath.Join(root, PrometheusK8s)); err != nil {
		errs = append(errs, err)
	} else if err := yaml.Unmarshal(data, &prom); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", PrometheusK8s, err))
	} else if !slices.Contains(prom.RuleFiles, filepath.Base(BusAlerts)) {
		errs = append(errs, fmt.Errorf("%s does not load %s (rule_files: %v)", PrometheusK8s, filepath.Base(BusAlerts), prom.RuleFiles))
	}
	ops, err := os.ReadFile(filepath.Join(root, Operations))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}

	buses, err := s.buses()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	jobs := map[string]bool{}
	for _, b := range buses {
		if b.kind == busKindJetStream {
			jobs[b.w.pod.Labels["app"]] = true
		}
	}

	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			where := fmt.Sprintf("%s: alert %q", BusAlerts, r.Alert)
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				errs = append(errs, fmt.Errorf("%s: a rule without an alert name or expression", where))
				continue
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					errs = append(errs, fmt.Errorf("%s: for %q: %w", where, r.For, err))
				}
			}
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				errs = append(errs, fmt.Errorf("%s: severity %q, want page or ticket", where, sev))
			}
			if r.Annotations["summary"] == "" {
				errs = append(errs, fmt.Errorf("%s has no summary", where))
			}
			if want := Operations + "#" + strings.ToLower(r.Alert); r.Annotations["runbook"] != want {
				errs = append(errs, fmt.Errorf("%s: runbook %q, want %q", where, r.Annotations["runbook"], want))
			}
			if !strings.Contains(string(ops), "**"+r.Alert+"**") {
				errs = append(errs, fmt.Errorf("%s: %s does not say what it means (no **%s**)", where, Operations, r.Alert))
			}
			for _, m := range MetricsOf(r.Expr) {
				if !slices.Contains(exporterMetrics, m) {
					errs = append(errs, fmt.Errorf("%s reads %s, which the exporter does not write", where, m))
				}
			}
			jobMatches := jobRe.FindAllStringSubmatch(r.Expr, -1)
			if len(jobMatches) == 0 {
				errs = append(errs, fmt.Errorf("%s reads series of any job: match job=\"<the bus pods' app label>\"", where))
			}
			for _, m := range jobMatches {
				if !jobs[m[1]] {
					errs = append(errs, fmt.Errorf("%s reads job %q, but the bus's pods are scraped as %v", where, m[1], slices.Sorted(maps.Keys(jobs))))
				}
			}
			for _, m := range streamRe.FindAllStringSubmatch(r.Expr, -1) {
				if m[1] != streamName {
					errs = append(errs, fmt.Errorf("%s reads stream %q; the services' stream is %s", where, m[1], streamName))
				}
			}
		}
	}
	if n == 0 {
		errs = append(errs, fmt.Errorf("%s has no rule", BusAlerts))
	}
	return errors.Join(errs...)
}
