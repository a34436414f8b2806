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

# gofmt must have nothing to say, and go vet nothing to report.
lint:
	@files="$$(gofmt -l .)"; if [ -n "$$files" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...

test: deps lint
	$(GO) test -race -count=1 -timeout 9m ./...
