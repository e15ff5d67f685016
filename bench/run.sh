#!/usr/bin/env bash
# Builds fsm (plain, and with FUSE if it can) and runs every whole-program
# figure: fsm next to the direct origin and rclone, in one run. Extra
# arguments go to fsmbench, e.g.:
#   bench/run.sh            # full run (~11 min on 2 cores): writes docs/BENCHMARKS.md
#                           # and docs/benchmarks-upload.png
#   bench/run.sh -quick     # smoke run (< 2 min): bench/results/BENCHMARKS.md
#   bench/run.sh -only 'upload|stall'   # some scenarios, into bench/results/
set -euo pipefail
cd "$(dirname "$0")/.."

# Only a full run of everything replaces the published page; smoke runs and
# partial runs go to bench/results/ (ignored by git). -out/-plot override.
out=(-out docs/BENCHMARKS.md -plot docs/benchmarks-upload.png)
for a in "$@"; do
	case "$a" in
	-quick | --quick | -only* | --only* | -size* | --size* | -runs* | --runs* | -files* | --files*)
		out=(-out bench/results/BENCHMARKS.md -plot bench/results/benchmarks-upload.png) ;;
	esac
done

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
"$TMP/fsmbench" -fsm "$TMP/fsm" "${fuse_args[@]}" "${out[@]}" "$@"
