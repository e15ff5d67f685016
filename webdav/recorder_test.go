package webdav

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// recorded is one request fsm received and what it answered, for the
// real-client tests. It is recorded when the answer's header goes out: gvfs
// abandons a GET when it seeks without closing the connection, so a body may
// stream on (blocked on a full socket) until gvfsd-dav exits.
type recorded struct {
	method, path string
	header       http.Header
	code         int
	contentRange string
	done         bool // the handler has returned
	aborted      bool // by a panic
}

func (r recorded) String() string {
	s := fmt.Sprintf("%s %s -> %d", r.method, r.path, r.code)
	for _, k := range []string{"Depth", "Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If", "Lock-Token"} {
		if v := r.header.Get(k); v != "" {
			s += fmt.Sprintf(" [%s: %s]", k, v)
		}
	}
	if r.contentRange != "" {
		s += " Content-Range: " + r.contentRange
	}
	if !r.done {
		s += " (still being served)"
	}
	if r.aborted {
		s += " (aborted)"
	}
	return s
}

// recorder records what a client sent and what the handler answered.
type recorder struct {
	mu   sync.Mutex
	list []*recorded
}

// recordWriter records the request the moment its status is decided.
type recordWriter struct {
	*codeWriter // handler.go's: it unwraps, so flushes and ReadFrom reach the server
	once        sync.Once
	header      func(code int)
}

func (w *recordWriter) WriteHeader(code int) {
	w.codeWriter.WriteHeader(code)
	w.once.Do(func() { w.header(w.code) })
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { w.header(http.StatusOK) })
	return w.codeWriter.Write(p)
}

func (d *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorded{method: r.Method, path: r.URL.Path, header: r.Header.Clone()}
		sw := &recordWriter{codeWriter: &codeWriter{ResponseWriter: w}}
		sw.header = func(code int) {
			d.mu.Lock()
			rec.code, rec.contentRange = code, sw.Header().Get("Content-Range")
			d.list = append(d.list, rec)
			d.mu.Unlock()
		}
		defer func() {
			// fsm ends a response it cannot finish (the client went away)
			// with panic(http.ErrAbortHandler); keep it, so net/http drops
			// the connection as fsm means it to.
			v := recover()
			sw.once.Do(func() { sw.header(http.StatusOK) })
			d.mu.Lock()
			rec.done, rec.aborted = true, v != nil
			d.mu.Unlock()
			if v != nil {
				panic(v)
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

// idle reports whether every request answered so far has ended.
func (d *recorder) idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.list {
		if !r.done {
			return false
		}
	}
	return true
}

func (d *recorder) all() []recorded {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]recorded, len(d.list))
	for i, r := range d.list {
		out[i] = *r
	}
	return out
}

func (d *recorder) find(match func(recorded) bool) []recorded {
	var out []recorded
	for _, r := range d.all() {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

func (d *recorder) String() string {
	var b strings.Builder
	for _, r := range d.all() {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}
