# The project's front door. `make run` starts the whole app on this machine;
# `make test` installs what the tests need and runs every module's tests;
# `make` (or `make help`) lists every target.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Every module of the workspace, from go.work's use block.
MODULES := $(shell sed -n 's|^[[:space:]]*\./\([a-z-]*\)$$|\1|p' go.work)
# Modules that are deployable services (each builds on its own, GOWORK=off):
# those infra/stack/services lists, the one list of services.
SERVICES := $(filter $(shell sed -n '/^[a-z]/p' infra/stack/services),$(MODULES))

GO ?= go
TEST_FLAGS ?= -count=1 -timeout 30m
BIN := bin

# Fuzz targets as <package dir>:<Fuzz function>; -fuzz takes one package at a time.
FUZZ_TARGETS := common/validate:FuzzParsePrice common/validate:FuzzDecodeTicketBody common/session:FuzzSessionCookie
FUZZ_TIME ?= 3s

.PHONY: help all run monitor test fuzz lint build deps run-deps clean bench

# A bare `make` lists the targets; nothing runs or installs unasked.
.DEFAULT_GOAL := help

## help: this list of targets, from their `## target:` comments (the default goal: a bare `make`)
help:
	@awk 'match($$0, /^## [a-z-]+: /) { printf "make %-9s %s\n", substr($$0, 4, RLENGTH - 5), substr($$0, RLENGTH + 1) }' $(firstword $(MAKEFILE_LIST))

## all: lint, build and test: all that CI checks, in one go (.ci/run)
all: lint build test

## run-deps: system packages the local run needs (Debian, as root)
run-deps:
	@infra/scripts/ensure-packages.sh redis-server:redis-server "/usr/lib/postgresql/*/bin/postgres:postgresql"

## deps: what the tests need as well: chromium (browser tests), promtool (the alert rules tests, Debian's prometheus), node and npm (the original's clients, infra/interop)
deps: run-deps
	@infra/scripts/ensure-packages.sh chromium:chromium promtool:prometheus node:nodejs npm:npm

## run: the whole app on this machine until Ctrl-C (see docs/DEVELOPMENT.md)
run: run-deps
	$(GO) build -o $(BIN)/localstack ./infra/cmd/localstack
	exec $(BIN)/localstack

## monitor: Debian's prometheus scraping a running `make run` (same DATA_DIR); prints its URL (MONITOR_ADDR, default 127.0.0.1:9090)
monitor:
	@infra/scripts/ensure-packages.sh prometheus:prometheus
	exec infra/scripts/monitor.sh

## test: every module's tests against real FerretDB, NATS Streaming and JetStream, Redis and stripe-mock; MODULES="auth infra" tests those (CI: one job each)
test: deps
	$(GO) test $(TEST_FLAGS) $(addsuffix /...,$(addprefix ./,$(MODULES)))
	@$(MAKE) --no-print-directory fuzz

## fuzz: each fuzz target of MODULES for FUZZ_TIME; a crasher is written to <pkg>/testdata/fuzz/<Fuzz>/ (commit it: go test replays it)
# Minimising each new input is capped in runs: by default it may take 60 s,
# during which nothing new is tried (seen: 25 s of 0 execs in a 30 s run).
fuzz:
	@for target in $(filter $(addsuffix /%,$(MODULES)),$(FUZZ_TARGETS)); do \
		pkg=$${target%%:*}; name=$${target##*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZ_TIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime 500x -timeout 2m ./$$pkg; \
	done

## lint: gofmt, go vet, staticcheck and tidy module files on every module; actionlint on .github/workflows
lint:
	$(GO) tool actionlint
	@unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(addsuffix /...,$(addprefix ./,$(MODULES)))
	$(GO) tool staticcheck $(addsuffix /...,$(addprefix ./,$(MODULES)))
	@# Each module must build on its own (its image does): tidy go.mod/go.sum.
	@for m in $(MODULES); do \
		(cd $$m && GOWORK=off $(GO) mod tidy -diff >/dev/null) || { echo "$$m: go.mod/go.sum not tidy; run: cd $$m && GOWORK=off go mod tidy"; exit 1; }; \
	done

## bench: load, latency and footprint figures (docs/BENCHMARKS.md); BENCH_FLAGS="-d 5s -cpuprofile prof"
bench: run-deps
	$(GO) build -o $(BIN)/bench ./infra/cmd/bench
	$(BIN)/bench $(BENCH_FLAGS)

## build: each service as its own module (as its container image builds it)
build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do \
		echo "build $$s"; \
		(cd $$s && GOWORK=off CGO_ENABLED=0 $(GO) build -trimpath -o ../$(BIN)/$$s .); \
	done

## clean: remove bin/
clean:
	rm -rf $(BIN)
