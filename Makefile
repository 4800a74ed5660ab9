# Makefile — every target a user or CI needs; `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULES      := api clients platform product-service order-service e2e k6 infra tools examples
GEN_MODULES  := clients product-service order-service
BIN          := bin
GOTEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: ## Bundle api/*.yaml into api/bundled/ and regenerate servers, clients and event types from the bundles
	@scripts/bundle.sh
	@for m in $(GEN_MODULES); do (cd $$m && go generate ./...); done

.PHONY: check-generated
check-generated: ## Fail when the committed *.gen.go differ from a fresh generation
	@scripts/check-generated.sh $(GEN_MODULES)

.PHONY: build
build: ## Build both services into bin/
	@mkdir -p $(BIN)
	go build -trimpath -o $(BIN)/product-service ./product-service/cmd/product-service
	go build -trimpath -o $(BIN)/order-service ./order-service/cmd/order-service

.PHONY: lint
lint: ## gofmt, go vet, staticcheck and sloglint on every module
	@scripts/lint.sh $(MODULES)

.PHONY: infra
infra: ## Make MariaDB, Redis and RabbitMQ reachable on localhost and create databases and users
	@infra/local/up.sh

.PHONY: test
test: ## Everything, stage by stage (generated code, lint, every module's tests, coverage, fuzzing, the README walkthrough), then a summary
	@scripts/test.sh $(MODULES)

.PHONY: fuzz
fuzz: ## Every Go fuzz target for FUZZTIME each (default 5s), then the schema fuzzer: E2E_FUZZ_REQUESTS (default 2000) per operation against both services
	@scripts/fuzz.sh $(MODULES)
	@cd e2e && E2E_FUZZ_REQUESTS=$${E2E_FUZZ_REQUESTS:-2000} go test -count=1 -timeout 60m -run '^TestSchemaFuzz$$' -v . | grep -vE '^(=== RUN|    --- PASS)'

.PHONY: run
run: infra build ## Start both services in the foreground (Ctrl-C stops both)
	@scripts/run.sh

# TUNE runs a load target through infra/local/tune-for-load.sh, which sets the local MariaDB's
# innodb_flush_log_at_trx_commit=2 for the run — SERVER-WIDE, said on the terminal — and restores
# the value it found when the run ends (also on failure and Ctrl-C). TUNE= leaves the server alone.
TUNE ?= infra/local/tune-for-load.sh
LOAD := $(TUNE) go run ./k6/cmd/loadrunner -amqp-url amqp://guest:guest@127.0.0.1:5672/

.PHONY: load
load: ## The original k6 scenario (ramp 200→1000/s, then 1000/s) against running services + invariants + CPU per order
	$(LOAD) -scenario orders $(LOAD_FLAGS)

.PHONY: load-steady
load-steady: ## Open loop, 5 s warm-up then 20 s at RATE (default 1000/s): CPU per order and latency at a steady rate
	$(LOAD) -scenario orders -start-rate $${RATE:-1000} -rate $${RATE:-1000} -warm 5s -duration 20s $(LOAD_FLAGS)

.PHONY: load-mixed
load-mixed: ## Reads mixed with orders (k6/mixed.test.js) + invariants + CPU per order
	$(LOAD) -scenario mixed $(LOAD_FLAGS)

.PHONY: load-max
load-max: ## Step the order rate up until p95 >= 300 ms or >= 1 % fail; report the last rate that held and CPU per order per step
	$(LOAD) -scenario max $(LOAD_FLAGS)

.PHONY: load-overload
load-overload: ## Overload: 5 s at 1000/s, then RATE (default 3000/s) for 10 s, then no load; 503 and 201 latency, RSS and goroutines per service from /metrics
	$(LOAD) -scenario overload -base-rate 1000 -rate $${RATE:-3000} -warm 5s -duration 10s $(LOAD_FLAGS)

.PHONY: bench-baseline
bench-baseline: ## Raw limits in one run, with CPU per operation: bare net/http, MySQL INSERT+INSERT+COMMIT x16, RabbitMQ alone; the floor per order
	go run ./k6/cmd/loadrunner -scenario baseline -amqp-url amqp://guest:guest@127.0.0.1:5672/ -rate $${RATE:-5000} -duration $${DURATION:-10s} $(LOAD_FLAGS)

.PHONY: up
up: ## docker compose up (MySQL 8, Redis, RabbitMQ, both services)
	docker compose -f infra/docker-compose.yml up -d --build

.PHONY: down
down: ## docker compose down
	docker compose -f infra/docker-compose.yml down

.PHONY: cover
cover: ## Every module's tests with coverage over all modules; prints per-package figures, writes coverage/index.html
	@COVER_PACKAGES=true scripts/test.sh --stages go,coverage $(MODULES)
	go tool cover -html=coverage/merged.out -o coverage/index.html
	@echo "report: coverage/index.html"
