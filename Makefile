# jwtgate — run `make help` for the targets.

GO          ?= go
BIN         := bin/jwtgate
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
# Linters run at pinned versions through the Go module proxy; nothing to install.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0

.DEFAULT_GOAL := help
.PHONY: help build run test bench lint fmt clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/jwtgate (version from git describe, else "dev")
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jwtgate

run: build ## Build, then start the server on the defaults (127.0.0.1:8080)
	./$(BIN) serve

test: ## Run every test, with the race detector (end-to-end tests build the binary themselves)
	$(GO) test -race -count=1 ./...

bench: ## Run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

lint: ## go vet, staticcheck and govulncheck
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(GOVULNCHECK) ./...

fmt: ## Format the code with gofmt
	$(GO) fmt ./...

clean: ## Remove build output
	rm -rf bin
