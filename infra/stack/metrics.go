package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// MetricsURL is one replica's Prometheus endpoint, on its own port (never
// through the ingress). "" for an unknown service or replica.
func (s *Stack) MetricsURL(name string, i int) string {
	if u := s.ReplicaURL(name, i); u != "" {
		return u + "/metrics"
	}
	return ""
}

// ScrapeTargetsFile is where the stack writes its replicas' metrics
// addresses for Prometheus's file-based discovery (`make monitor`). The
// stack keeps every replica's port across restarts, so the file holds for
// the stack's whole run.
func ScrapeTargetsFile(dataDir string) string {
	return filepath.Join(dataDir, "monitor", "targets.json")
}

// targetGroup is one entry of Prometheus's file_sd format.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// announceMetrics prints each replica's metrics address and writes them
// as scrape targets, one job per service and one instance per replica.
func (s *Stack) announceMetrics(con *console) error {
	var groups []targetGroup
	for _, name := range s.names {
		for i, port := range s.ports[name] {
			label := name
			if len(s.ports[name]) > 1 {
				label += "-" + strconv.Itoa(i)
			}
			con.printf("metrics: %s %s", label, s.MetricsURL(name, i))
			groups = append(groups, targetGroup{
				Targets: []string{"127.0.0.1:" + port},
				Labels:  map[string]string{"job": name, "replica": strconv.Itoa(i)},
			})
		}
	}
	file := ScrapeTargetsFile(s.cfg.DataDir)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("writing scrape targets: %w", err)
	}
	data, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	// Written whole then renamed: Prometheus rereads the file when it changes.
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing scrape targets: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("writing scrape targets: %w", err)
	}
	return nil
}
