# jwtgate — run `make help` for the targets.

GO          ?= go
BIN         := bin/jwtgate
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
# Linters run at pinned versions through the Go module proxy; nothing to install.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0

.DEFAULT_GOAL := help
.PHONY: help build run test test-go test-interop bench lint fmt clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/jwtgate (version from git describe, else "dev")
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jwtgate

run: build ## Build, then start the server on the defaults (127.0.0.1:8080)
	./$(BIN) serve

test: test-go test-interop ## Run every test the project has

test-go: ## Go tests with the race detector: unit, fuzz seeds, end to end (e2e builds its own binary), bench tools
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) test -race -count=1 ./...

test-interop: build ## Interoperability with the jose library (Node.js; npm ci installs the locked version)
	cd interop && npm ci --no-audit --no-fund --loglevel=error && JWTGATE_BIN=$(CURDIR)/$(BIN) npm test

BENCHCOUNT  ?= 6
BENCHSTAT   := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

bench: ## Run the benchmarks BENCHCOUNT times and summarise them with benchstat (ratios against the baselines)
	@mkdir -p bin
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./pkg/... | tee bin/bench.txt
	@echo; echo "== verification: jwtgate against raw golang-jwt (impl=golang-jwt is the baseline)"
	$(GO) run $(BENCHSTAT) -filter '.name:Verify' -col /impl bin/bench.txt
	@echo; echo "== middleware: protected route against the same route unprotected"
	$(GO) run $(BENCHSTAT) -filter '.name:Route' -col /route bin/bench.txt
	@echo; echo "== everything"
	$(GO) run $(BENCHSTAT) bin/bench.txt

lint: ## go vet, staticcheck and govulncheck
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(GOVULNCHECK) ./...

fmt: ## Format the code with gofmt
	$(GO) fmt ./...
	cd bench && $(GO) fmt ./...

clean: ## Remove build output
	rm -rf bin interop/node_modules

.PHONY: loadtest
loadtest: ## Load runs vs gin-jwt and the chat proxy (LOADTEST_DURATION, LOADTEST_CONNS); not in test
	GO="$(GO)" ./scripts/loadtest.sh
