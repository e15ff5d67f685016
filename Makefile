# fsm builds: `make` is the pure-Go WebDAV-only binary; `make fuse` adds the
# FUSE frontend (Linux: libfuse3-dev; macOS: macFUSE or FUSE-T).
GO ?= go
UNAME := $(shell uname -s)
ifeq ($(UNAME),Linux)
FUSE_TAGS := fuse,fuse3
else
FUSE_TAGS := fuse
endif

# `fsm version` names the commit even where go build's VCS stamp is off.
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.commit=$(COMMIT)

# What CI runs after its package installs (.ci/run calls `make check`): the
# builds for every OS users run fsm on, vet with and without the FUSE tags
# (and, without them, for macOS and Windows too),
# the gofmt check and the README's test command. `make lint` is the part
# before the tests, for a fast loop.
CI_TEST := $(GO) test -race -tags fuse,fuse3 -count=1 -timeout 20m ./...

.PHONY: all fuse test lint check bench clean
all:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o fsm ./cmd/fsm

fuse:
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -tags $(FUSE_TAGS) -o fsm ./cmd/fsm

test:
	$(GO) test -race -tags $(FUSE_TAGS) ./...

# The default build must stay pure Go on every OS; the Windows FUSE build
# (WinFsp) needs no cgo either.
lint:
	CGO_ENABLED=0 $(GO) build ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/fsm
	GOOS=windows $(GO) build -o /dev/null ./cmd/fsm
	GOOS=windows $(GO) build -tags fuse -o /dev/null ./cmd/fsm
	$(GO) vet ./...
	$(GO) vet -tags fuse,fuse3 ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted" >&2; exit 1; fi

check: lint
	$(CI_TEST)

bench:
	bash bench/run.sh

clean:
	rm -f fsm fsm-origin
