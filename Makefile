# stirling: build, test and ship the Stirling-engine edge agent.
# Quick start: `make run` (simulated engine) and `make test`.

GO        ?= go
PKG       := github.com/stirling-iot/stirling
# One version X.Y.Z for the binaries (`stirling version`), the component,
# its recipe, dist/greengrass/VERSION and the README's deploy command:
# COMPONENT_VERSION if given, else the vX.Y.Z tag on HEAD, else the VERSION
# file (scripts/version.sh).
VERSION   ?= $(or $(COMPONENT_VERSION),$(shell ./scripts/version.sh))
COMMIT    ?= $(shell git describe --always --dirty --abbrev=40 --match=NONE 2>/dev/null || echo unknown)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X $(PKG)/internal/version.Version=$(VERSION) \
             -X $(PKG)/internal/version.Commit=$(COMMIT) \
             -X $(PKG)/internal/version.Date=$(DATE)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0
BIN       := bin

export CGO_ENABLED ?= 0

ifeq ($(VERSION),)
$(error no version: scripts/version.sh failed (see its message); set COMPONENT_VERSION=X.Y.Z)
endif

.PHONY: all build run test test-go test-race deps lint fmtcheck vet staticcheck bench cross package clean tidy version

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/stirling ./cmd/stirling

## run: the agent on the simulated engine; readings on stdout, status page on http://127.0.0.1:8080/
run: build
	$(BIN)/stirling run --config configs/sim.yaml

## deps: install what the tests need on a fresh Debian machine (mosquitto, chromium).
deps:
	./scripts/deps.sh

## test: everything CI runs: dependencies, lint, the whole test suite, then the race detector
## on the packages that own goroutines.
test: deps lint test-go test-race

test-go:
	CGO_ENABLED=1 $(GO) test -count=1 -timeout 40m ./...

# RACE_PKGS own goroutines (the agent, the pipeline and its spool, the
# publishers, the status server). The whole suite under -race would double
# CI's time for little more: test/agent, test/e2e and test/bench drive the
# built binary, which -race does not instrument.
RACE_PKGS := ./internal/agent/... ./pipeline/... ./publish/... ./internal/status/...

test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

lint: fmtcheck vet staticcheck

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

## bench: the benchmarks whose numbers go in BENCHMARKS.md.
bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem -count 1 ./... | tee bench.out

## cross: static binaries for every Pi and for amd64.
cross:
	GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/stirling-linux-arm64 ./cmd/stirling
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/stirling-linux-armv7 ./cmd/stirling
	GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/stirling-linux-armv6 ./cmd/stirling
	GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/stirling-linux-amd64 ./cmd/stirling

## package: Greengrass component (static arm64 + armv7 binaries, validated recipe) in dist/greengrass
package:
	LDFLAGS='$(LDFLAGS)' COMPONENT_VERSION='$(VERSION)' GO='$(GO)' ./scripts/package.sh

## version: the version X.Y.Z everything is built with.
version:
	@echo '$(VERSION)'


tidy:
	$(GO) mod tidy
	git diff --exit-code -- go.mod go.sum

clean:
	rm -rf $(BIN) bench.out dist greengrass-build
