#!/usr/bin/env bash
# monitor.sh — `make monitor`: runs Debian's prometheus in the foreground,
# scraping every replica of a running `make run` (the stack writes their
# addresses to DATA_DIR/monitor/targets.json) and evaluating
# infra/monitoring/alerts.yml. MONITOR_ADDR (default 127.0.0.1:9090) is
# where its web UI listens.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
data_dir=${DATA_DIR:-$root/.data}
if ! data_dir=$(cd "$data_dir" 2>/dev/null && pwd); then
	echo "monitor: DATA_DIR ${DATA_DIR:-$root/.data} does not exist; start \`make run\` first" >&2
	exit 1
fi
addr=${MONITOR_ADDR:-127.0.0.1:9090}
dir=$data_dir/monitor
targets=$dir/targets.json

if [ ! -s "$targets" ]; then
	echo "monitor: no scrape targets in $targets; start \`make run\` (same DATA_DIR) first" >&2
	exit 1
fi

# The rules are checked before anything runs: a broken rule file fails here.
if command -v promtool >/dev/null 2>&1; then
	promtool check rules "$root/infra/monitoring/alerts.yml" >/dev/null
fi

# Prometheus rereads targets.json when a new `make run` rewrites it.
cat >"$dir/prometheus.yml" <<YAML
# Written by infra/scripts/monitor.sh; edit that script, not this file.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $root/infra/monitoring/alerts.yml
scrape_configs:
  - job_name: ticketing
    file_sd_configs:
      - files: [$targets]
YAML

echo "prometheus: http://$addr (targets: http://$addr/targets, alerts: http://$addr/alerts)"
exec prometheus \
	--config.file="$dir/prometheus.yml" \
	--storage.tsdb.path="$dir/tsdb" \
	--storage.tsdb.retention.time=2d \
	--web.listen-address="$addr" \
	--log.level=warn
