package testorigin

import (
	"fmt"
	"net/http"
	"strconv"
)

// An answer is built by steps, each owning one option or fault, run in
// order until one completes the response. A new fault is one Options field
// and one step in serveSteps.

// exchange is one request being answered: what its steps share.
type exchange struct {
	w   http.ResponseWriter
	r   *http.Request
	rc  *http.ResponseController
	idx int // its entry in the request log

	v      version // the file as this request sees it, from entityHeaders on
	start  int64   // first body byte
	length int64   // body length announced
	status int     // 200 or 206
	send   int64   // body bytes actually sent (≤ length; a fault shortens it)
	end    ending  // what happens after the sent bytes
}

// ending is how a body ends once its send bytes are out.
type ending int

const (
	endClean ending = iota // the announced body is complete
	endCut                 // the connection drops short of the announced end
	endStall               // nothing more until the client gives up
)

// next says whether the steps go on after one.
type next int

const (
	proceed  next = iota
	answered      // the response is complete, or the client is gone
)

// serveSteps is the order of an answer.
var serveSteps = []func(*Origin, *exchange) next{
	(*Origin).redirect,
	(*Origin).route,
	(*Origin).allowMethod,
	(*Origin).injectFailure,
	(*Origin).firstByteDelay,
	(*Origin).entityHeaders,
	(*Origin).selectRange,
	(*Origin).answerHead,
	(*Origin).planCut,
	(*Origin).planStall,
	(*Origin).sendStatus,
	(*Origin).holdAtGate,
	(*Origin).sendBody,
	(*Origin).finish,
}

// ServeHTTP implements http.Handler.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.active.Add(1)
	defer o.active.Add(-1)
	x := &exchange{w: w, r: r, idx: o.logStart(r), status: http.StatusOK}
	for _, step := range serveSteps {
		if step(o, x) == answered {
			return
		}
	}
}

// redirect answers Options.RedirectFrom with 302 to the file.
func (o *Origin) redirect(x *exchange) next {
	if o.opts.RedirectFrom == "" || x.r.URL.Path != o.opts.RedirectFrom {
		return proceed
	}
	if x.r.Method != http.MethodGet && x.r.Method != http.MethodHead {
		o.methodNotAllowed(x.w, x.idx, "GET, HEAD")
		return answered
	}
	x.w.Header().Set("Location", o.opts.Name)
	o.writeHeader(x.w, x.idx, http.StatusFound)
	return answered
}

// route answers 404 for every path but the file's.
func (o *Origin) route(x *exchange) next {
	if x.r.URL.Path != o.opts.Name {
		o.sendError(x.w, x.idx, http.StatusNotFound)
		return answered
	}
	return proceed
}

// allowMethod answers 405 to anything but GET and (unless NoHEAD) HEAD.
func (o *Origin) allowMethod(x *exchange) next {
	allow := "GET, HEAD"
	if o.opts.NoHEAD {
		allow = "GET"
	}
	switch {
	case x.r.Method == http.MethodGet:
		return proceed
	case x.r.Method == http.MethodHead && !o.opts.NoHEAD:
		return proceed
	}
	o.methodNotAllowed(x.w, x.idx, allow)
	return answered
}

// injectFailure answers FailStatus while FailCount lasts (GET only).
func (o *Origin) injectFailure(x *exchange) next {
	if x.r.Method == http.MethodGet && o.takeFailure() {
		o.sendError(x.w, x.idx, o.opts.FailStatus)
		return answered
	}
	return proceed
}

// firstByteDelay waits FirstByteDelay (after the failure check, so
// injected failures answer promptly).
func (o *Origin) firstByteDelay(x *exchange) next {
	if !o.sleep(x.r.Context(), o.opts.FirstByteDelay) {
		return answered
	}
	return proceed
}

// entityHeaders snapshots the file (after the delay, so a Change during it
// is visible) and sets its validators and metadata headers.
func (o *Origin) entityHeaders(x *exchange) next {
	x.v = o.current()
	x.length = x.v.content.Size
	h := x.w.Header()
	if x.v.etag != "" {
		h.Set("ETag", x.v.etag)
	}
	if !o.opts.NoLastModified {
		h.Set("Last-Modified", x.v.lastMod.UTC().Format(http.TimeFormat))
	}
	if o.opts.ContentType != "" {
		h.Set("Content-Type", o.opts.ContentType)
	} else {
		// A nil value suppresses net/http's content sniffing.
		h["Content-Type"] = nil
	}
	if o.opts.ContentDisposition != "" {
		h.Set("Content-Disposition", o.opts.ContentDisposition)
	}
	if !o.opts.IgnoreRange {
		h.Set("Accept-Ranges", "bytes")
	}
	return proceed
}

// selectRange honours Range (and If-Range, IgnoreRange, MaxRangeBytes):
// 206 for a satisfiable range, 416 for an unsatisfiable one.
func (o *Origin) selectRange(x *exchange) next {
	rh := x.r.Header.Get("Range")
	if rh == "" || o.opts.IgnoreRange || !o.ifRangeOK(x.r, x.v) {
		return proceed
	}
	size := x.v.content.Size
	h := x.w.Header()
	s, n, kind := parseRange(rh, size)
	switch kind {
	case rangeUnsatisfiable:
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		h.Set("Content-Length", "0")
		o.writeHeader(x.w, x.idx, http.StatusRequestedRangeNotSatisfiable)
		return answered
	case rangeOK:
		if o.opts.MaxRangeBytes > 0 {
			n = min(n, o.opts.MaxRangeBytes)
		}
		x.start, x.length, x.status = s, n, http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, s+n-1, size))
	}
	return proceed
}

// answerHead sets Content-Length (unless NoContentLength on a 200) and
// completes a HEAD.
func (o *Origin) answerHead(x *exchange) next {
	if x.status == http.StatusPartialContent || !o.opts.NoContentLength {
		x.w.Header().Set("Content-Length", strconv.FormatInt(x.length, 10))
	}
	x.send = x.length
	if x.r.Method == http.MethodHead {
		o.writeHeader(x.w, x.idx, x.status)
		return answered
	}
	return proceed
}

// planCut applies CutAfter/CutCount to the body.
func (o *Origin) planCut(x *exchange) next {
	if cut := o.takeCut(x.length); cut >= 0 {
		x.send, x.end = cut, endCut
	}
	return proceed
}

// planStall applies StallAfter/StallCount; a stall no later than a cut
// wins, since the bytes after it never come.
func (o *Origin) planStall(x *exchange) next {
	if stall := o.takeStall(x.length); stall >= 0 && stall <= x.send {
		x.send, x.end = stall, endStall
	}
	return proceed
}

// sendStatus writes and flushes the status and headers: it forces chunked
// encoding when there is no Content-Length (otherwise net/http would
// compute one for small bodies), and it lets a Block-ed client's Do return.
func (o *Origin) sendStatus(x *exchange) next {
	o.writeHeader(x.w, x.idx, x.status)
	x.rc = http.NewResponseController(x.w)
	if x.rc.Flush() != nil {
		return answered
	}
	return proceed
}

// holdAtGate holds the body while a Block barrier is up.
func (o *Origin) holdAtGate(x *exchange) next {
	if !o.waitGate(x.r.Context()) {
		return answered
	}
	return proceed
}

// sendBody writes the body's send bytes, throttled.
func (o *Origin) sendBody(x *exchange) next {
	if o.writeBody(x.r.Context(), x.w, x.rc, x.idx, x.v.content, x.start, x.send) != nil {
		return answered
	}
	return proceed
}

// finish ends the body as planned.
func (o *Origin) finish(x *exchange) next {
	switch x.end {
	case endStall:
		_ = x.rc.Flush()
		select { // silent until the client gives up
		case <-x.r.Context().Done():
		case <-o.done:
		}
	case endCut:
		// Everything before the cut must be on the wire, else net/http could
		// drop buffered bytes and the client would get fewer than CutAfter.
		_ = x.rc.Flush()
		// ErrAbortHandler makes net/http close the connection without
		// finishing the body (no terminating chunk, short of Content-Length)
		// and without logging a stack trace.
		panic(http.ErrAbortHandler)
	}
	return answered
}
