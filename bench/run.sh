#!/usr/bin/env bash
# Builds fsm (plain, and with FUSE if it can) and runs the whole-program
# benchmark. Extra arguments go to fsmbench, e.g.:
#   bench/run.sh            # 1 GiB, report in bench/results/latest.md
#   bench/run.sh -quick     # 256 MiB smoke run (64 MiB throttled part)
set -euo pipefail
cd "$(dirname "$0")/.."

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fsmbench-build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

if ! command -v rclone >/dev/null 2>&1; then
	echo "run.sh: rclone missing; installing Debian's package for the baselines" >&2
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get install -y rclone || { $SUDO apt-get update && $SUDO apt-get install -y rclone; } ||
		echo "run.sh: could not install rclone; its baselines will be skipped" >&2
fi

# The commit goes in by hand too: go build stamps it only with -buildvcs.
ldflags="-X main.commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
go build -ldflags "$ldflags" -o "$TMP/fsm" ./cmd/fsm
if go build -ldflags "$ldflags" -tags fuse,fuse3 -o "$TMP/fsm-fuse" ./cmd/fsm 2>"$TMP/fuse-build.log"; then
	fuse_args=(-fsm-fuse "$TMP/fsm-fuse")
else
	fuse_args=(-fuse-skip "fsm does not build with -tags fuse,fuse3: $(grep -v '^#' "$TMP/fuse-build.log" | head -n1)")
fi
go build -o "$TMP/fsmbench" ./bench/cmd/fsmbench

# Not exec: the EXIT trap must still remove the binaries afterwards.
"$TMP/fsmbench" -fsm "$TMP/fsm" "${fuse_args[@]}" "$@"
