# jwtgate — run `make help` for the targets.

GO          ?= go
# go.mod's toolchain line names the patched Go release to build with (standard
# library security fixes); let the go command fetch it through the module proxy
# when the machine's Go is older, whatever GOTOOLCHAIN the machine sets.
export GOTOOLCHAIN := auto
BIN         := bin/jwtgate
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
# Linters run at pinned versions through the Go module proxy; nothing to install.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
# govulncheck reads a local database built from the golang.org/x/vulndb module (fetched
# through the module proxy) by its own indexdb tool, so lint needs no access to vuln.go.dev.
# Bump VULNDB_VERSION to refresh it; bin/vulndb is rebuilt when the version's stamp is missing.
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB      := bin/vulndb
VULNDB_STAMP := $(VULNDB)/.built-$(VULNDB_VERSION)
INDEXDB     := golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)
# Fuzz targets as package:function:executions. `make test` fuzzes each for its number
# of executions (a few seconds each here); `make fuzz` for FUZZTIME each, 150s by
# default (15 minutes in all). A count, unlike a duration, cannot hit the race in
# Go's fuzzing coordinator that fails a duration run with a bare "context deadline
# exceeded" and no crasher (go.dev/issue/75804, fixed in Go 1.27): in `make fuzz`
# such a failure is that race, not a finding. New crashers are written to the
# package's testdata/fuzz/<FuzzName>/ and from then on run as regression tests.
FUZZTIME    ?=
FUZZ_TARGETS := ./pkg/token:FuzzVerify:50000x ./pkg/ginauth:FuzzAuthorizationHeader:20000x \
                ./pkg/server:FuzzCreateSession:4000x ./pkg/config:FuzzLoad:4000x \
                ./pkg/dpop:FuzzDPoPProof:20000x ./pkg/crossorigin:FuzzOrigin:20000x \
                ./pkg/usage:FuzzReader:20000x ./pkg/usage:FuzzIncludeStreamUsage:20000x

.DEFAULT_GOAL := help
.PHONY: help build run test test-deps test-go test-interop bench lint fmt clean fuzz

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/jwtgate (version from git describe, else "dev")
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jwtgate

run: build ## Build, then start the server on the defaults (127.0.0.1:8080)
	./$(BIN) serve

test: test-deps test-go test-interop ## Run every test the project has (installs what the tests need first, see test-deps)

# test-deps installs, when missing, the programs the tests start: Debian's chromium for
# the browser test in interop/ (driven by puppeteer-core, which never downloads a
# browser of its own), and Debian's redis-server for the tests of the shared session
# limits (pkg/meter, e2e), which run it on free loopback ports with persistence off.
# CI runs as root on a fresh Debian machine.
test-deps: ## Install the test programs when missing (Debian's chromium and redis-server; needs root and apt-get)
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -z "$$missing" || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing)

test-go: test-deps ## Go tests with the race detector: unit, fuzz seeds, end to end (e2e builds its own binary), bench tools; then a few seconds of fuzzing per target (a fixed number of executions)
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) test -race -count=1 ./...
	$(run-fuzz)

test-interop: build test-deps ## Interoperability with real clients (Node.js; npm ci installs the locked versions): jose, panva's dpop, the openai, @anthropic-ai/sdk and Vercel ai SDKs, headless Chromium
	cd interop && npm ci --no-audit --no-fund --loglevel=error && JWTGATE_BIN=$(CURDIR)/$(BIN) npm test

BENCHCOUNT  ?= 6
BENCHSTAT   := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

bench: ## Run the benchmarks (the counting ones need redis-server: make test-deps) BENCHCOUNT times and summarise them with benchstat (ratios against the baselines)
	@mkdir -p bin
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./pkg/... | tee bin/bench.txt
	@echo; echo "== verification: jwtgate against raw golang-jwt (impl=golang-jwt is the baseline)"
	$(GO) run $(BENCHSTAT) -filter '.name:Verify' -col /impl bin/bench.txt
	@echo; echo "== middleware: protected route against the same route unprotected"
	$(GO) run $(BENCHSTAT) -filter '.name:Route' -col /route bin/bench.txt
	@echo; echo "== session limits: proxied chat route (1 KiB body) with limits against the same route without"
	$(GO) run $(BENCHSTAT) -filter '.name:ChatLimits' -col /limits bin/bench.txt
	@echo; echo "== usage counting: proxied chat route of a counted session (local counters, Redis on loopback) against an unlimited one"
	$(GO) run $(BENCHSTAT) -filter '.name:(ChatCounting OR ChatCountingParallel)' -col /counting bin/bench.txt
	@echo; echo "== DPoP: a DPoP-bound token with a fresh proof per request against a bearer token, middleware and whole handler"
	$(GO) run $(BENCHSTAT) -filter '.name:DPoP' -col /scheme bin/bench.txt
	$(GO) run $(BENCHSTAT) -filter '.name:DPoPChat' -col /scheme bin/bench.txt
	@echo; echo "== everything"
	$(GO) run $(BENCHSTAT) bin/bench.txt

# benchcmp: the same benchmarks before (REF) and after (the working tree) in one run.
BENCHREF    ?= HEAD
BENCHPKG    ?= ./pkg/server
BENCHRE     ?= .
.PHONY: benchcmp
benchcmp: ## Benchmarks of BENCHPKG matching BENCHRE at git BENCHREF (default HEAD) and in the working tree, interleaved BENCHCOUNT times, compared by benchstat
	GO="$(GO)" ./scripts/benchcmp.sh -ref $(BENCHREF) -count $(BENCHCOUNT) $(BENCHPKG) '$(BENCHRE)'

.PHONY: streams
streams: ## Many concurrent streams through jwtgate (STREAMS_N, default 10000, an event each 100ms): added delay, memory per stream; not in test
	GO="$(GO)" ./scripts/streams.sh

.PHONY: syscalls
syscalls: ## System calls per proxied request (strace -c; needs strace), for the working tree and, with BENCHREF set, that commit too
	GO="$(GO)" ./scripts/syscalls.sh $(if $(filter-out HEAD,$(BENCHREF)),-ref $(BENCHREF))

# run-fuzz fuzzes each of FUZZ_TARGETS for FUZZTIME, one package at a time (go test
# fuzzes one target per run), and stops at the first failure.
define run-fuzz
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; budget=$(if $(FUZZTIME),$(FUZZTIME),$${rest#*:}); \
		echo "fuzzing $$fn in $$pkg for $$budget"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $$budget $$pkg || exit 1; \
	done
endef

fuzz: FUZZTIME = 150s
fuzz: ## Fuzz each target for FUZZTIME (default 150s each, 15 minutes in all; e.g. make fuzz FUZZTIME=60s)
	@echo "fuzzing $(words $(FUZZ_TARGETS)) targets for $(FUZZTIME) each"
	$(run-fuzz)

lint: $(VULNDB_STAMP) ## go vet, staticcheck and govulncheck (offline, against bin/vulndb)
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(GOVULNCHECK) -db file://$(abspath $(VULNDB)) ./...

# The vulnerability database: data/osv of golang.org/x/vulndb, indexed by its cmd/indexdb.
$(VULNDB_STAMP):
	@echo "building $(VULNDB) from golang.org/x/vulndb@$(VULNDB_VERSION) (once; about a minute)"
	@dir=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p'); \
	test -d "$$dir/data/osv" || { echo "no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION)" >&2; exit 1; }; \
	rm -rf $(VULNDB) $(VULNDB).tmp && \
	$(GO) run $(INDEXDB) -vulns "$$dir/data/osv" -out $(VULNDB).tmp && \
	mv $(VULNDB).tmp $(VULNDB) && touch $@

fmt: ## Format the code with gofmt
	$(GO) fmt ./...
	cd bench && $(GO) fmt ./...

clean: ## Remove build output
	rm -rf bin interop/node_modules

.PHONY: loadtest
loadtest: ## Load runs vs gin-jwt and the chat proxy (LOADTEST_DURATION, LOADTEST_CONNS); not in test
	GO="$(GO)" ./scripts/loadtest.sh
