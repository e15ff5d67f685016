//go:build fuse

package fuse

import (
	"strconv"
	"time"

	cgofuse "github.com/winfsp/cgofuse/fuse"
)

// trace logs one FUSE request at debug level, as the WebDAV side logs one
// line per HTTP request: the operation, the path, its result (0 or the
// errno's name) and how long it took. Callers defer it only when
// f.tracing, so a mount at info level pays nothing per request.
func (f *fileSystem) trace(op, path string, start time.Time, result *int) {
	f.log.Debug("fuse request", "op", op, "path", path, "result", errnoName(*result), "duration", time.Since(start).Round(time.Microsecond))
}

// traceRead is trace for a read, with its range and the bytes it returned.
func (f *fileSystem) traceRead(path string, off int64, size int, start time.Time, n *int) {
	result, bytes := "ok", *n
	if *n < 0 {
		result, bytes = errnoName(*n), 0
	}
	f.log.Debug("fuse request", "op", "read", "path", path, "offset", off, "size", size, "bytes", bytes, "result", result, "duration", time.Since(start).Round(time.Microsecond))
}

// errnoName names the negative errnos fsm answers with.
func errnoName(errc int) string {
	switch errc {
	case 0:
		return "ok"
	case -cgofuse.ENOENT:
		return "ENOENT"
	case -cgofuse.EIO:
		return "EIO"
	case -cgofuse.EROFS:
		return "EROFS"
	case -cgofuse.EBADF:
		return "EBADF"
	case -cgofuse.EACCES:
		return "EACCES"
	case -cgofuse.EISDIR:
		return "EISDIR"
	case -cgofuse.EINTR:
		return "EINTR"
	}
	return "errno " + strconv.Itoa(-errc)
}
