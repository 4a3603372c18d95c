# The CRM suite. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every Go module of the workspace (go.work).
MODULES := pkg proto services/customer services/audit services/followup services/needs services/tagging services/feedback gateway deploy/bench
# Service binaries built into bin/.
BINARIES := $(patsubst %,./services/%/cmd/%,customer audit followup needs tagging feedback) ./gateway/cmd/gateway
BUF := go run github.com/bufbuild/buf/cmd/buf@v1.75.0
GO_TEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: generate
generate: ## Regenerate Go, gRPC, gateway and OpenAPI code from proto/ (pinned tools, offline).
	bash proto/generate.sh

.PHONY: verify
verify: generate ## Fail when generated code is stale or the API breaks compatibility with main.
	@git diff --exit-code --stat -- proto/gen gateway/openapi || \
		{ echo "generated code is stale: run 'make generate' and commit the result" >&2; exit 1; }
	@if [ -z "$$(git status --porcelain -- proto/gen gateway/openapi)" ]; then :; else \
		echo "generated files are not committed:" >&2; git status --porcelain -- proto/gen gateway/openapi >&2; exit 1; fi
	bash proto/breaking.sh main

.PHONY: build
build: ## Build every service binary into bin/.
	@mkdir -p bin
	go build -o bin/ $(BINARIES)

.PHONY: lint
lint: ## go vet, gofmt, buf lint and the import rules of the layout.
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done
	@bad=$$(gofmt -l $$(git ls-files '*.go' | grep -v '/gen/')); if [ -n "$$bad" ]; then echo "gofmt: $$bad" >&2; exit 1; fi
	$(BUF) lint
	bash deploy/local/check-imports.sh

.PHONY: test
test: ## Run every test against real PostgreSQL and NATS (started locally when none answers).
	@set -euo pipefail; \
	export CRM_TEST_DATABASE_URL="$${CRM_TEST_DATABASE_URL:-$$(deploy/local/ensure-postgres.sh)}"; \
	$(MAKE) --no-print-directory verify lint; \
	for m in $(MODULES); do echo "== $$m"; (cd $$m && go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /e2e)) || exit 1; done; \
	echo "== gateway/e2e (services run as their own processes; the race detector would only watch the embedded nats-server)"; \
	(cd gateway && go test -count=1 -timeout 20m ./e2e/...)

.PHONY: run
run: ## Start PostgreSQL and NATS if needed, then every service and the gateway; Ctrl-C stops them.
	bash deploy/local/run.sh

.PHONY: stop
stop: ## Stop the PostgreSQL and NATS that `make run` or `make test` started under .data/.
	bash deploy/local/stop-local.sh

.PHONY: bench
bench: ## Measure the running suite against 1,000,000 customers (~15 min) and write docs/benchmarks.md.
	bash deploy/bench/bench.sh

.PHONY: tidy
tidy: ## go mod tidy in every module.
	@for m in $(MODULES); do (cd $$m && go mod tidy) || exit 1; done
