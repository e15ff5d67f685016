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

.PHONY: all fuse test bench clean
all:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o fsm ./cmd/fsm

fuse:
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -tags $(FUSE_TAGS) -o fsm ./cmd/fsm

test:
	$(GO) test -race -tags $(FUSE_TAGS) ./...

bench:
	bash bench/run.sh

clean:
	rm -f fsm
