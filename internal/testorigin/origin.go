// Package testorigin provides a configurable, fault-injecting HTTP origin for
// tests and benchmarks: one file of deterministic pseudo-random content served
// over net/http/httptest, with hand-written Range/If-Range handling (so the
// behaviour under test is exactly what is documented here, not whatever
// http.ServeContent happens to do), throttling, delays, errors (with
// Retry-After), abrupt connection cuts, bodies that go silent, range answers
// capped in length, mid-download file replacement and a request log. Link
// paces any handler's bodies to a rate all connections share.
//
// Range semantics, in brief:
//
//   - Only the "bytes" unit and a single range are honoured: "a-b", "a-" and
//     "-n". A satisfiable range answers 206 with "Content-Range: bytes a-b/size";
//     an unsatisfiable one answers 416 with "Content-Range: bytes */size".
//   - A multi-range request ("bytes=0-1,5-6"), a syntactically invalid range
//     (e.g. "bytes=5-2") or an unknown unit is ignored, answering 200 with the
//     whole body; RFC 9110 permits a server to ignore Range, and clients of
//     this product never send multi-range requests.
//   - If-Range (only consulted together with Range) matches on a strong ETag
//     comparison, or on an HTTP-date equal to Last-Modified at second
//     granularity; a mismatch answers 200 with the whole current body.
//   - Other conditional headers (If-None-Match, If-Modified-Since, If-Match)
//     are ignored.
package testorigin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultLastModified is the Last-Modified time used when Options.LastModified
// is zero. It is fixed (not time.Now) so header values are reproducible.
var DefaultLastModified = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Options configures an Origin. The zero value (plus a Content) serves a
// well-behaved file at /file.bin.
type Options struct {
	Content Content
	// Name is the path the file is served at; default "/file.bin".
	Name string
	// ETag is sent verbatim (include the quotes); the default is strong and
	// derived from seed and size, e.g. "\"s1-1048576\"". After a file change
	// (see ChangeAfter) the default is recomputed from the new seed, and a
	// custom ETag gets a "-g<generation>" suffix inside its quotes.
	ETag string
	// LastModified defaults to DefaultLastModified when zero. Each file change
	// moves it forward by one minute per generation.
	LastModified   time.Time
	NoLastModified bool // omit Last-Modified (If-Range dates never match then)
	NoETag         bool // omit ETag (If-Range entity tags never match then)
	// ContentType is sent when set. When empty no Content-Type is sent at all
	// (net/http's sniffing is suppressed) so tests see a deterministic header.
	ContentType string
	// ContentDisposition is sent as-is when set.
	ContentDisposition string
	// IgnoreRange answers every GET with 200 and the whole body and omits
	// Accept-Ranges, like an origin without range support.
	IgnoreRange bool
	// NoContentLength streams 200 full-body responses chunked with no
	// Content-Length, and omits it from HEAD; 206 responses keep theirs.
	NoContentLength bool
	// NoHEAD answers HEAD with 405.
	NoHEAD bool
	// BytesPerSecond throttles each response body independently (so N
	// connections get N times the rate); 0 means unlimited.
	BytesPerSecond int64
	// SharedBytesPerSecond limits all response bodies together, like a
	// link of that bandwidth (so N connections share the rate); 0 means
	// unlimited. It applies on top of BytesPerSecond.
	SharedBytesPerSecond int64
	// FirstByteDelay is waited before answering each GET or HEAD (after the
	// failure check, so injected failures answer promptly). It models
	// latency, which HEAD suffers too.
	FirstByteDelay time.Duration
	// CutAfter > 0 makes the first CutCount GET responses whose body is
	// longer than CutAfter stop abruptly after exactly CutAfter body bytes:
	// the connection is closed without the body's announced end, so the
	// client sees io.ErrUnexpectedEOF, not a clean EOF. Responses no longer
	// than CutAfter are served whole and do not use up a cut. CutCount <= 0
	// with CutAfter > 0 means one cut.
	CutAfter int64
	CutCount int
	// StallAfter > 0 makes GET responses whose body is longer than
	// StallAfter send exactly that many body bytes (flushed) and then
	// nothing, until the client goes away or the origin is closed: an origin
	// gone silent mid-body. StallCount limits it to the first StallCount
	// such responses; 0 stalls every one.
	StallAfter int64
	StallCount int
	// MaxRangeBytes > 0 answers a range longer than that with only its
	// first MaxRangeBytes bytes and an honest Content-Range, as origins that
	// cap each range response do.
	MaxRangeBytes int64
	// RetryAfter, when set, is sent as Retry-After with injected failures.
	RetryAfter string
	// FailCount makes the first FailCount GETs (HEAD is not affected) answer
	// FailStatus, default 503, with a short text body.
	FailCount  int
	FailStatus int
	// ChangeAfter > 0 replaces the file once, as soon as that many body bytes
	// have been served in total: the content seed becomes Seed+1 and ETag and
	// Last-Modified change. Responses already in flight finish with the old
	// content (as a server streaming from an open, since-unlinked file
	// would); every later request sees the new file.
	ChangeAfter int64
	// RedirectFrom, when set, is a path whose GET and HEAD answer 302 with
	// Location: Name.
	RedirectFrom string
}

// Request is one entry of the request log.
type Request struct {
	Method  string
	Path    string
	Range   string      // Range request header, verbatim
	IfRange string      // If-Range request header, verbatim
	Header  http.Header // clone of all request headers
	// Status is the status sent; 0 if the client went away (or the origin
	// was closed) before a status line was written.
	Status    int
	BytesSent int64 // file body bytes handed to the connection
	Time      time.Time
}

// Origin is a running test HTTP server serving one file. The embedded
// *httptest.Server gives access to Client(), the base URL (o.Server.URL) etc.
type Origin struct {
	*httptest.Server

	opts Options // defaults applied; never mutated after NewServer

	active    atomic.Int64  // handlers currently running
	waiting   atomic.Int64  // GETs currently held by Block
	done      chan struct{} // closed by Close to unblock sleeping handlers
	link      *Link         // SharedBytesPerSecond's link; nil when unset
	closeOnce sync.Once

	mu          sync.Mutex // guards the fields below
	gen         int64      // number of file changes so far
	autoChanged bool       // ChangeAfter has fired
	served      int64
	failLeft    int
	stallLeft   int // -1: unlimited
	cutLeft     int
	gate        chan struct{} // non-nil while Block is in effect
	reqs        []Request
}

// New starts an Origin and closes it when the test ends.
func New(t testing.TB, opts Options) *Origin {
	t.Helper()
	o := NewServer(opts)
	t.Cleanup(o.Close)
	return o
}

// NewServer starts an Origin without a testing.TB (for benchmark harnesses
// and commands); the caller must Close it.
func NewServer(opts Options) *Origin {
	o := newOrigin(opts)
	o.Server = httptest.NewServer(o)
	return o
}

// newOrigin applies opts' defaults; the caller starts o.Server.
func newOrigin(opts Options) *Origin {
	if opts.Name == "" {
		opts.Name = "/file.bin"
	} else if !strings.HasPrefix(opts.Name, "/") {
		opts.Name = "/" + opts.Name
	}
	if opts.RedirectFrom != "" && !strings.HasPrefix(opts.RedirectFrom, "/") {
		opts.RedirectFrom = "/" + opts.RedirectFrom
	}
	if opts.LastModified.IsZero() {
		opts.LastModified = DefaultLastModified
	}
	if opts.FailStatus == 0 {
		opts.FailStatus = http.StatusServiceUnavailable
	}
	if opts.Content.Size < 0 {
		opts.Content.Size = 0
	}
	if opts.CutAfter > 0 && opts.CutCount <= 0 {
		opts.CutCount = 1
	}
	if opts.StallCount <= 0 {
		opts.StallCount = -1
	}
	o := &Origin{
		opts:      opts,
		done:      make(chan struct{}),
		failLeft:  opts.FailCount,
		stallLeft: opts.StallCount,
		cutLeft:   opts.CutCount,
	}
	if opts.SharedBytesPerSecond > 0 {
		o.link = NewLink(opts.SharedBytesPerSecond)
	}
	return o
}

// Close stops the server. Unlike httptest.Server.Close it does not wait for
// clients that stopped reading: it wakes throttled, delayed and blocked
// handlers and drops all connections first, so a test's cleanup never hangs.
// It is idempotent.
func (o *Origin) Close() {
	o.closeOnce.Do(func() {
		close(o.done)
		o.Server.CloseClientConnections()
		o.Server.Close()
	})
}

// URL returns the full URL of the file.
func (o *Origin) URL() string { return o.Server.URL + o.opts.Name }

// RedirectURL returns the full URL of Options.RedirectFrom ("" if unset).
func (o *Origin) RedirectURL() string {
	if o.opts.RedirectFrom == "" {
		return ""
	}
	return o.Server.URL + o.opts.RedirectFrom
}

// Requests returns a copy of the request log, in arrival order.
func (o *Origin) Requests() []Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Request, len(o.reqs))
	copy(out, o.reqs)
	return out
}

// Count returns the number of requests with the given method, "" for all.
func (o *Origin) Count(method string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if method == "" {
		return len(o.reqs)
	}
	n := 0
	for _, r := range o.reqs {
		if r.Method == method {
			n++
		}
	}
	return n
}

// BytesServed returns the total number of file body bytes served.
func (o *Origin) BytesServed() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.served
}

// SetFailCount makes the next n GETs fail with Options.FailStatus.
func (o *Origin) SetFailCount(n int) {
	o.mu.Lock()
	o.failLeft = n
	o.mu.Unlock()
}

// Change replaces the file now (see Options.ChangeAfter); it may be called
// repeatedly, each call producing a new generation.
func (o *Origin) Change() {
	o.mu.Lock()
	o.gen++
	o.mu.Unlock()
}

// Block holds every GET that reaches the point of sending its body (status
// and headers are already written and flushed, so the client's Do has
// returned) until release is called, the client goes away, or the origin is
// closed. release is idempotent. Calling Block again replaces the barrier;
// GETs already waiting stay on the one they saw.
func (o *Origin) Block() (release func()) {
	ch := make(chan struct{})
	o.mu.Lock()
	o.gate = ch
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			if o.gate == ch {
				o.gate = nil
			}
			o.mu.Unlock()
			close(ch)
		})
	}
}

// Waiting returns how many GETs are currently held by Block, so tests can
// wait for a request to arrive without sleeping.
func (o *Origin) Waiting() int { return int(o.waiting.Load()) }

// version is one generation of the file, captured once per request so a
// response is internally consistent even if the file changes meanwhile.
type version struct {
	content Content
	etag    string // "" when NoETag
	lastMod time.Time
}

// Version returns the current content and validators (ETag is "" when
// NoETag; Last-Modified is returned even when NoLastModified).
func (o *Origin) Version() (c Content, etag string, lastModified time.Time) {
	v := o.current()
	return v.content, v.etag, v.lastMod
}

func (o *Origin) current() version {
	o.mu.Lock()
	g := o.gen
	o.mu.Unlock()
	c := o.opts.Content
	c.Seed += uint64(g)
	v := version{content: c, lastMod: o.opts.LastModified.Add(time.Duration(g) * time.Minute)}
	switch {
	case o.opts.NoETag:
	case o.opts.ETag == "":
		v.etag = fmt.Sprintf(`"s%d-%d"`, c.Seed, c.Size)
	case g == 0:
		v.etag = o.opts.ETag
	case strings.HasSuffix(o.opts.ETag, `"`) && len(o.opts.ETag) >= 2:
		// Keep the tag well-formed (and weak if it was) by suffixing inside
		// the quotes.
		v.etag = fmt.Sprintf(`%s-g%d"`, strings.TrimSuffix(o.opts.ETag, `"`), g)
	default:
		v.etag = fmt.Sprintf("%s-g%d", o.opts.ETag, g)
	}
	return v
}

// logStart appends a log entry and returns its index.
func (o *Origin) logStart(r *http.Request) int {
	e := Request{
		Method:  r.Method,
		Path:    r.URL.Path,
		Range:   r.Header.Get("Range"),
		IfRange: r.Header.Get("If-Range"),
		Header:  r.Header.Clone(),
		Time:    time.Now(),
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reqs = append(o.reqs, e)
	return len(o.reqs) - 1
}

func (o *Origin) writeHeader(w http.ResponseWriter, idx, code int) {
	o.mu.Lock()
	o.reqs[idx].Status = code
	o.mu.Unlock()
	w.WriteHeader(code)
}

func (o *Origin) sendError(w http.ResponseWriter, idx, code int) {
	msg := "testorigin: " + http.StatusText(code)
	if code == o.opts.FailStatus {
		msg = fmt.Sprintf("testorigin: injected failure (%d)", code)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(msg)+1))
	if code == o.opts.FailStatus && o.opts.RetryAfter != "" {
		h.Set("Retry-After", o.opts.RetryAfter)
	}
	o.writeHeader(w, idx, code)
	fmt.Fprintln(w, msg)
}

func (o *Origin) methodNotAllowed(w http.ResponseWriter, idx int, allow string) {
	w.Header().Set("Allow", allow)
	o.sendError(w, idx, http.StatusMethodNotAllowed)
}

// takeFailure consumes one injected failure if any are left.
func (o *Origin) takeFailure() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failLeft > 0 {
		o.failLeft--
		return true
	}
	return false
}

// takeStall returns where a body of the given length stalls, or -1.
func (o *Origin) takeStall(length int64) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opts.StallAfter > 0 && o.opts.StallAfter < length && o.stallLeft != 0 {
		if o.stallLeft > 0 {
			o.stallLeft--
		}
		return o.opts.StallAfter
	}
	return -1
}

// takeCut returns the cut position for a body of the given length, or -1.
// Only bodies the cut actually shortens consume one, so small probes sent
// before the download under test do not silently use it up.
func (o *Origin) takeCut(length int64) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cutLeft > 0 && o.opts.CutAfter > 0 && o.opts.CutAfter < length {
		o.cutLeft--
		return o.opts.CutAfter
	}
	return -1
}

// account records k body bytes sent and fires ChangeAfter when due.
func (o *Origin) account(idx int, k int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reqs[idx].BytesSent += k
	o.served += k
	if o.opts.ChangeAfter > 0 && !o.autoChanged && o.served >= o.opts.ChangeAfter {
		o.autoChanged = true
		o.gen++
	}
}
