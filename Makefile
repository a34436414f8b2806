# tenantd: `make run` starts the server with demo tenants, `make test` runs
# everything CI runs. Both install what is missing first (scripts/deps.sh).

GO ?= go

.PHONY: run test build deps lint

run: deps build
	TENANTD_DEMO=1 exec ./bin/tenantd serve

build:
	$(GO) build -o bin/tenantd ./cmd/tenantd

deps:
	./scripts/deps.sh

# gofmt must have nothing to say, go vet nothing to report, and the OpenAPI
# linters integrators use (Redocly, Spectral) nothing either; those run
# through npm where Node.js is present and are skipped with a message
# otherwise (scripts/lint-openapi.sh).
lint:
	@files="$$(gofmt -l .)"; if [ -n "$$files" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	./scripts/lint-openapi.sh

test: deps lint
	$(GO) test -race -count=1 -timeout 9m ./...

# The mixed-tenant soak and the database crash test, long: e.g.
#   make soak DURATION=10m TENANTS=1000
DURATION ?= 60s
TENANTS ?= 100
WORKERS ?= 32
soak: deps
	DURATION=$(DURATION) TENANTS=$(TENANTS) WORKERS=$(WORKERS) $(GO) test -race -count=1 -v -timeout 0 ./internal/soak

# Each fuzz target for FUZZTIME (their seed corpora run in `make test`).
FUZZTIME ?= 30s
fuzz: deps
	$(GO) test -run XXX -fuzz FuzzDecodeJSON -fuzztime $(FUZZTIME) ./http
	$(GO) test -run XXX -fuzz FuzzRefreshToken -fuzztime $(FUZZTIME) ./http
	$(GO) test -run XXX -fuzz FuzzVerify -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run XXX -fuzz FuzzDecodeCursor -fuzztime $(FUZZTIME) ./postgres
	$(GO) test -run XXX -fuzz FuzzSettingsPatch -fuzztime $(FUZZTIME) .

# The load benchmark with its baselines, in one run (see BENCHMARKS.md):
# the scenarios (in process, and against the server in a process of its
# own at 10 and 100,000 tenants, with its memory), the point read from
# outside (wrk against the API, pgbench on the plain select and on the
# door's transaction, a CPU profile of the server under wrk), the noisy
# neighbour, then the Go benchmarks (tokens, middleware, rate limiter,
# audited writes with one and six writers, bulk inserts).
BENCHFLAGS ?= -tenants 10 -tenants-large 100000 -duration 5s -c 16 -json bench.json
NOISYFLAGS ?= -noisy -tenants 2 -c 8 -duration 5s -json bench-noisy.json
bench:
	./scripts/deps.sh bench
	$(GO) run ./cmd/tenantd-bench $(BENCHFLAGS)
	$(GO) run ./cmd/tenantd-bench $(NOISYFLAGS)
	$(GO) test -run XXX -bench . -skip Bulk -benchmem -benchtime 2000x ./auth ./http ./ratelimit ./postgres
	$(GO) test -run XXX -bench BulkInsert -benchtime 1x ./postgres -args -bulk-rows 10000

.PHONY: soak fuzz bench
