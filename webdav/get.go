package webdav

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"fsm/internal/answer"
	"fsm/internal/watchdog"
	"fsm/vfs"
)

// serveFile answers GET and HEAD on a file: validators and type from
// metadata (nothing is sniffed), the RFC 9110 rules of conditions.go, and
// for GET a body copied from one vfs handle. HEAD and every answer without
// a body never open a handle.
func (s *server) serveFile(w http.ResponseWriter, r *http.Request, info vfs.Info) {
	h := w.Header()
	confine(h)
	mod := info.ModTime.UTC().Truncate(time.Second)
	if info.ETag != "" {
		h.Set("ETag", info.ETag)
	}
	h.Set("Last-Modified", mod.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	switch preconditions(r.Header, info.ETag, mod) {
	case notModified:
		w.WriteHeader(http.StatusNotModified)
		return
	case preconditionFailed:
		plain(w, http.StatusPreconditionFailed, "precondition failed\n")
		return
	}
	code, off, n := http.StatusOK, int64(0), info.Size
	if ifRangeHolds(r.Header, info.ETag, mod) {
		var kind rangeKind
		off, n, kind = parseRange(r.Header.Get("Range"), info.Size)
		switch kind {
		case rangePart:
			code = http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, info.Size))
		case rangeUnsatisfiable:
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			plain(w, http.StatusRequestedRangeNotSatisfiable, "fsm: no requested range overlaps the file's "+strconv.FormatInt(info.Size, 10)+" bytes\n")
			return
		}
	}
	ct := info.ContentType // never empty for a file (vfs falls back to application/octet-stream)
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	if r.Method == http.MethodHead || n == 0 {
		w.WriteHeader(code)
		return
	}
	s.sendBody(w, r, info, code, off, n)
}

// sendBody copies [off, off+n) of the file to the client. The status line
// waits for the first bytes, so a read that fails before any was sent still
// becomes an error answer; later failures abort the response (a client must
// never take a cut body for a whole one).
func (s *server) sendBody(w http.ResponseWriter, r *http.Request, info vfs.Info, code int, off, n int64) {
	hd, err := s.fs.Open(info.Path)
	if err != nil {
		// Unstaged between Stat and Open.
		dropFileHeaders(w.Header())
		notFound(w)
		return
	}
	defer hd.Close()
	ctx, wd := watchdog.New(r.Context(), s.stall, errStalled)
	defer wd.Stop()
	b := &body{w: w, code: code, wd: wd}
	copied, err := hd.CopyTo(ctx, b, off, n)
	if err == nil {
		b.send()
		return
	}
	at := off + copied
	if r.Context().Err() != nil || b.werr != nil {
		s.log.Debug("client went away during GET", "name", info.Path, "offset", at, "sent", b.n)
		if b.sent {
			panic(http.ErrAbortHandler)
		}
		return
	}
	reason := answer.For(err)
	if wd.Fired() {
		reason = stallAnswer(hd.File(), s.stall)
	}
	if b.sent {
		s.log.Error("GET aborted mid-stream", "name", info.Path, "offset", at, "sent", b.n, "reason", reason.Message)
		panic(http.ErrAbortHandler)
	}
	s.log.Error("GET failed", "name", info.Path, "offset", at, "status", reason.Status, "code", reason.Code, "reason", reason.Message)
	dropFileHeaders(w.Header())
	plain(w, reason.Status, "fsm: "+reason.Message+"\n")
}

// dropFileHeaders removes the headers that describe the file from an
// answer that turned out not to carry it.
func dropFileHeaders(h http.Header) {
	for _, k := range []string{"Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified"} {
		h.Del(k)
	}
}

// stallAnswer is the answer (a silent origin's 504) for a read that got no
// byte for limit. A failed read's answer is answer.For's, the same the
// control API gives: the store's errors name the file, the offset and the
// URL (without its secrets).
func stallAnswer(f *vfs.File, limit time.Duration) answer.Answer {
	msg := fmt.Sprintf("no bytes of %s arrived from its origin for %s", f.Path(), limit)
	if last := f.Progress().Err; last != nil {
		msg += "; last origin error: " + last.Error()
	}
	return answer.Stalled(msg)
}

// confine sets what every answer about a staged file carries, whatever its
// type. The origin chose the bytes and, where no extension decides, the type;
// this origin also serves the control page and its token. So no staged file
// may run script here (sandbox: a unique origin, no scripts, whatever type a
// browser settles on), be sniffed into another type, or be embedded by
// another site (which would also let it probe which names exist). Listing
// which types are scriptable was the bug: browsers disagree on the list and
// take the last of several types in one header.
func confine(h http.Header) {
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// errStalled is the cause a watchdog cancels a GET's reads with, once no
// byte has reached the client for the stall limit while the handler waits
// for the store. Writing to the client pauses it: a slow client is not a
// stalled origin.
var errStalled = errors.New("no progress")

// body is the writer CopyTo fills: it sends the held status line with the
// first bytes and hands each present run of the temp file (an *os.File
// section) to the response's ReadFrom, which sends it with sendfile.
type body struct {
	w    http.ResponseWriter
	code int
	wd   *watchdog.Dog
	sent bool  // the status line is out
	n    int64 // bytes written to the client
	werr error // a write to the client failed: it went away
}

func (b *body) send() {
	if !b.sent {
		b.sent = true
		b.w.WriteHeader(b.code)
	}
}

func (b *body) Write(p []byte) (int, error) {
	b.wd.Pause()
	defer b.wd.Resume()
	b.send()
	n, err := b.w.Write(p)
	b.n += int64(n)
	if err != nil {
		b.werr = err
	}
	return n, err
}

func (b *body) ReadFrom(src io.Reader) (int64, error) {
	b.wd.Pause()
	defer b.wd.Resume()
	b.send()
	var n int64
	var err error
	if rf, ok := b.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{b.w}, src)
	}
	b.n += n
	if err != nil && !isReadSide(err) {
		b.werr = err
	}
	return n, err
}

// writerOnly hides a ReadFrom so io.Copy does not recurse into it.
type writerOnly struct{ io.Writer }

// isReadSide reports whether err came from reading the body's source (the
// temp file) rather than from writing to the client: CopyTo hands ReadFrom
// an *os.File section, whose reads fail only with *fs.PathError.
func isReadSide(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe)
}
