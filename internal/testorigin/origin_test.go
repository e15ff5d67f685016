package testorigin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"fsm/internal/fsmtest"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// get issues a request with the given extra headers (pairs) and returns the
// response with its body fully read.
func get(t *testing.T, o *Origin, method, url string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := o.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 1 << 20}})
	if want := o.Server.URL + "/file.bin"; o.URL() != want {
		t.Fatalf("URL = %q, want %q", o.URL(), want)
	}
	resp, body, err := get(t, o, "GET", o.URL())
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp.Status, err)
	}
	if !bytes.Equal(body, o.opts.Content.Bytes(0, 1<<20)) {
		t.Fatal("body differs from Content")
	}
	h := resp.Header
	for k, want := range map[string]string{
		"ETag":           `"s1-1048576"`,
		"Last-Modified":  "Tue, 02 Jan 2024 03:04:05 GMT",
		"Accept-Ranges":  "bytes",
		"Content-Length": "1048576",
		"Content-Type":   "",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	o2 := New(t, Options{
		Content: Content{Seed: 1, Size: 10}, Name: "x/y.iso", ETag: `"abc"`,
		ContentType: "application/x-iso9660-image", ContentDisposition: `attachment; filename="z.iso"`,
		NoLastModified: true,
	})
	resp, _, _ = get(t, o2, "HEAD", o2.URL())
	if resp.StatusCode != 200 || o2.URL() != o2.Server.URL+"/x/y.iso" {
		t.Fatalf("HEAD %s: %s", o2.URL(), resp.Status)
	}
	for k, want := range map[string]string{
		"ETag":                `"abc"`,
		"Last-Modified":       "",
		"Content-Type":        "application/x-iso9660-image",
		"Content-Disposition": `attachment; filename="z.iso"`,
		"Content-Length":      "10",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	o3 := New(t, Options{Content: Content{Seed: 1, Size: 10}, NoETag: true})
	if resp, _, _ = get(t, o3, "HEAD", o3.URL()); resp.Header.Get("ETag") != "" {
		t.Errorf("NoETag: ETag = %q", resp.Header.Get("ETag"))
	}
}

func TestRange(t *testing.T) {
	t.Parallel()
	const size = 1000
	o := New(t, Options{Content: Content{Seed: 3, Size: size}})
	empty := New(t, Options{Content: Content{Seed: 3, Size: 0}})
	tests := []struct {
		name       string
		o          *Origin
		rng        string
		wantStatus int
		wantCR     string // Content-Range
		start, n   int64  // expected body slice (206/200)
	}{
		{"closed", o, "bytes=0-99", 206, "bytes 0-99/1000", 0, 100},
		{"one byte", o, "bytes=0-0", 206, "bytes 0-0/1000", 0, 1},
		{"odd", o, "bytes=13-17", 206, "bytes 13-17/1000", 13, 5},
		{"open", o, "bytes=990-", 206, "bytes 990-999/1000", 990, 10},
		{"last byte", o, "bytes=999-999", 206, "bytes 999-999/1000", 999, 1},
		{"clamped end", o, "bytes=900-5000", 206, "bytes 900-999/1000", 900, 100},
		{"suffix", o, "bytes=-100", 206, "bytes 900-999/1000", 900, 100},
		{"suffix larger than file", o, "bytes=-5000", 206, "bytes 0-999/1000", 0, size},
		{"spaces", o, "bytes= 1-2", 206, "bytes 1-2/1000", 1, 2},
		{"start at size", o, "bytes=1000-", 416, "bytes */1000", 0, 0},
		{"start past size", o, "bytes=2000-3000", 416, "bytes */1000", 0, 0},
		{"zero suffix", o, "bytes=-0", 416, "bytes */1000", 0, 0},
		{"empty file", empty, "bytes=0-", 416, "bytes */0", 0, 0},
		{"empty file suffix", empty, "bytes=-5", 416, "bytes */0", 0, 0},
		{"inverted ignored", o, "bytes=5-2", 200, "", 0, size},
		{"garbage ignored", o, "bytes=a-b", 200, "", 0, size},
		{"signed ignored", o, "bytes=+1-2", 200, "", 0, size},
		{"unit ignored", o, "items=0-1", 200, "", 0, size},
		{"multi ignored", o, "bytes=0-1,5-6", 200, "", 0, size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				resp, body, err := get(t, tt.o, method, tt.o.URL(), "Range", tt.rng)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("%s: status %d, want %d", method, resp.StatusCode, tt.wantStatus)
				}
				if got := resp.Header.Get("Content-Range"); got != tt.wantCR {
					t.Errorf("%s: Content-Range %q, want %q", method, got, tt.wantCR)
				}
				if tt.wantStatus == 416 {
					continue
				}
				if got := resp.Header.Get("Content-Length"); got != strconv.FormatInt(tt.n, 10) {
					t.Errorf("%s: Content-Length %q, want %d", method, got, tt.n)
				}
				if method == "HEAD" {
					if len(body) != 0 {
						t.Errorf("HEAD returned %d body bytes", len(body))
					}
					continue
				}
				if want := tt.o.opts.Content.Bytes(tt.start, tt.n); !bytes.Equal(body, want) {
					t.Errorf("body: got %d bytes, want %d bytes at %d", len(body), len(want), tt.start)
				}
			}
		})
	}
}

func TestIfRange(t *testing.T) {
	t.Parallel()
	lm := time.Date(2023, 5, 6, 7, 8, 9, 500e6, time.UTC) // sub-second part must not matter
	o := New(t, Options{Content: Content{Seed: 1, Size: 100}, LastModified: lm})
	weak := New(t, Options{Content: Content{Seed: 1, Size: 100}, ETag: `W/"w"`})
	noVal := New(t, Options{Content: Content{Seed: 1, Size: 100}, NoETag: true, NoLastModified: true})
	date := lm.Format(http.TimeFormat)
	tests := []struct {
		name    string
		o       *Origin
		hdr     []string
		want    int
		wantLen int
	}{
		{"etag match", o, []string{"Range", "bytes=10-19", "If-Range", `"s1-100"`}, 206, 10},
		{"etag mismatch", o, []string{"Range", "bytes=10-19", "If-Range", `"other"`}, 200, 100},
		{"weak request tag", o, []string{"Range", "bytes=10-19", "If-Range", `W/"s1-100"`}, 200, 100},
		{"weak server tag", weak, []string{"Range", "bytes=10-19", "If-Range", `W/"w"`}, 200, 100},
		{"date match", o, []string{"Range", "bytes=10-19", "If-Range", date}, 206, 10},
		{"date mismatch", o, []string{"Range", "bytes=10-19", "If-Range", lm.Add(time.Second).Format(http.TimeFormat)}, 200, 100},
		{"bad date", o, []string{"Range", "bytes=10-19", "If-Range", "yesterday"}, 200, 100},
		{"no validators", noVal, []string{"Range", "bytes=10-19", "If-Range", date}, 200, 100},
		{"mismatch beats 416", o, []string{"Range", "bytes=500-", "If-Range", `"other"`}, 200, 100},
		{"without Range", o, []string{"If-Range", `"other"`}, 200, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := get(t, tt.o, "GET", tt.o.URL(), tt.hdr...)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want || len(body) != tt.wantLen {
				t.Fatalf("status %d with %d bytes, want %d with %d", resp.StatusCode, len(body), tt.want, tt.wantLen)
			}
		})
	}
}

func TestIgnoreRange(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 500}, IgnoreRange: true})
	resp, body, err := get(t, o, "GET", o.URL(), "Range", "bytes=10-19")
	if err != nil || resp.StatusCode != 200 || len(body) != 500 {
		t.Fatalf("got %d with %d bytes (%v), want 200 with 500", resp.StatusCode, len(body), err)
	}
	if ar := resp.Header.Get("Accept-Ranges"); ar != "" {
		t.Errorf("Accept-Ranges = %q, want none", ar)
	}
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		t.Errorf("Content-Range = %q, want none", cr)
	}
}

func TestNoContentLength(t *testing.T) {
	t.Parallel()
	for _, size := range []int64{0, 10, 300 << 10} { // small bodies too: net/http must not compute a length
		o := New(t, Options{Content: Content{Seed: 1, Size: size}, NoContentLength: true})
		resp, body, err := get(t, o, "GET", o.URL())
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("size %d: %d %v", size, resp.StatusCode, err)
		}
		if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
			t.Errorf("size %d: ContentLength = %d, want unknown", size, resp.ContentLength)
		}
		if !bytes.Equal(body, o.opts.Content.Bytes(0, size)) {
			t.Errorf("size %d: body differs", size)
		}
		resp, _, _ = get(t, o, "HEAD", o.URL())
		if resp.Header.Get("Content-Length") != "" {
			t.Errorf("size %d: HEAD sent Content-Length %q", size, resp.Header.Get("Content-Length"))
		}
	}
	// Ranged responses keep their length.
	o := New(t, Options{Content: Content{Seed: 1, Size: 100}, NoContentLength: true})
	resp, body, _ := get(t, o, "GET", o.URL(), "Range", "bytes=0-9")
	if resp.StatusCode != 206 || resp.ContentLength != 10 || len(body) != 10 {
		t.Errorf("range: %d, length %d, %d bytes", resp.StatusCode, resp.ContentLength, len(body))
	}
}

func TestMethodsAndPaths(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 10}})
	noHead := New(t, Options{Content: Content{Seed: 1, Size: 10}, NoHEAD: true})
	tests := []struct {
		o      *Origin
		method string
		path   string
		want   int
	}{
		{o, "GET", "/file.bin", 200},
		{o, "HEAD", "/file.bin", 200},
		{o, "POST", "/file.bin", 405},
		{o, "GET", "/other", 404},
		{noHead, "HEAD", "/file.bin", 405},
		{noHead, "GET", "/file.bin", 200},
	}
	for _, tt := range tests {
		resp, _, _ := get(t, tt.o, tt.method, tt.o.Server.URL+tt.path)
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	const size = 2 << 20
	o := New(t, Options{Content: Content{Seed: 1, Size: size}, BytesPerSecond: 4e6})
	// Two concurrent downloads: each must be paced on its own (so both take
	// >= size/rate), and must still deliver the right bytes.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, err := o.Client().Get(o.URL())
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			el := time.Since(start)
			switch {
			case err != nil:
				errs <- err
			case !bytes.Equal(body, o.opts.Content.Bytes(0, size)):
				errs <- errors.New("body differs")
			case el < 400*time.Millisecond: // 2 MiB at 4 MB/s is 0.52 s
				errs <- fmt.Errorf("download took %v, throttle not applied", el)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFirstByteDelay(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 10}, FirstByteDelay: 150 * time.Millisecond})
	start := time.Now()
	resp, _, _ := get(t, o, "HEAD", o.URL())
	if el := time.Since(start); resp.StatusCode != 200 || el < 150*time.Millisecond {
		t.Fatalf("HEAD %d after %v, want 200 after >= 150ms", resp.StatusCode, el)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	for _, noCL := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoContentLength=%v", noCL), func(t *testing.T) {
			const size, cut = 1 << 20, 100_001
			o := New(t, Options{Content: Content{Seed: 5, Size: size}, CutAfter: cut, CutCount: 2, NoContentLength: noCL})
			// A body no longer than CutAfter is served whole and keeps the cuts.
			if resp, body, err := get(t, o, "GET", o.URL(), "Range", "bytes=0-99"); err != nil || resp.StatusCode != 206 || len(body) != 100 {
				t.Fatalf("small range: %d, %d bytes, %v", resp.StatusCode, len(body), err)
			}
			for i, rng := range []string{"", "bytes=1000-"} {
				var hdr []string
				var off int64
				if rng != "" {
					hdr, off = []string{"Range", rng}, 1000
				}
				_, body, err := get(t, o, "GET", o.URL(), hdr...)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("cut %d: err = %v, want unexpected EOF", i, err)
				}
				if len(body) != cut || !bytes.Equal(body, o.opts.Content.Bytes(off, cut)) {
					t.Errorf("cut %d: got %d bytes, want exactly %d correct bytes", i, len(body), cut)
				}
			}
			// Cuts used up: the next download completes.
			if _, body, err := get(t, o, "GET", o.URL()); err != nil || len(body) != size {
				t.Fatalf("after cuts: %d bytes, %v", len(body), err)
			}
			reqs := o.Requests()
			if got := reqs[1].BytesSent; got != cut {
				t.Errorf("log BytesSent = %d, want %d", got, cut)
			}
			fsmtest.Eventually(t, "handlers to finish", func() bool { return o.Active() == 0 })
		})
	}
}

func TestFailCount(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 10}, FailCount: 2})
	want := []int{503, 503, 200}
	for i, w := range want {
		if resp, _, _ := get(t, o, "HEAD", o.URL()); resp.StatusCode != 200 {
			t.Fatalf("HEAD %d: %d, HEAD must not consume failures", i, resp.StatusCode)
		}
		if resp, _, _ := get(t, o, "GET", o.URL()); resp.StatusCode != w {
			t.Fatalf("GET %d: %d, want %d", i, resp.StatusCode, w)
		}
	}
	o.SetFailCount(1)
	if resp, _, _ := get(t, o, "GET", o.URL()); resp.StatusCode != 503 {
		t.Fatalf("after SetFailCount: %d", resp.StatusCode)
	}
	o2 := New(t, Options{Content: Content{Seed: 1, Size: 10}, FailCount: 1, FailStatus: 500})
	if resp, _, _ := get(t, o2, "GET", o2.URL()); resp.StatusCode != 500 {
		t.Fatalf("FailStatus: %d", resp.StatusCode)
	}
	if o.BytesServed() != 10 || o2.BytesServed() != 0 {
		t.Errorf("BytesServed = %d, %d; failures must not count", o.BytesServed(), o2.BytesServed())
	}
}

func TestChangeAfter(t *testing.T) {
	t.Parallel()
	const size = 64 << 10
	o := New(t, Options{Content: Content{Seed: 1, Size: size}, ChangeAfter: size / 2})
	old := o.opts.Content
	resp, body, err := get(t, o, "GET", o.URL(), "Range", "bytes=0-32767")
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, old.Bytes(0, size/2)) {
		t.Fatalf("first half: %d %v", resp.StatusCode, err)
	}
	oldETag, oldLM := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	// The file has now changed: resuming with the old validators gets the
	// whole new file.
	for _, ir := range []string{oldETag, oldLM} {
		resp, body, err = get(t, o, "GET", o.URL(), "Range", "bytes=32768-", "If-Range", ir)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("If-Range %s after change: %d %v, want 200", ir, resp.StatusCode, err)
		}
		newC := Content{Seed: 2, Size: size}
		if !bytes.Equal(body, newC.Bytes(0, size)) {
			t.Fatal("body after change is not the Seed+1 content")
		}
		if resp.Header.Get("ETag") != `"s2-65536"` || resp.Header.Get("Last-Modified") == oldLM {
			t.Fatalf("validators did not change: %q %q", resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
		}
	}
	// New validators match; ChangeAfter fires only once.
	resp, _, _ = get(t, o, "GET", o.URL(), "Range", "bytes=0-0", "If-Range", `"s2-65536"`)
	if resp.StatusCode != 206 {
		t.Fatalf("If-Range with new ETag: %d", resp.StatusCode)
	}
	// Change() forces another generation; custom ETags get a suffix.
	o.Change()
	if c, etag, _ := o.Version(); c.Seed != 3 || etag != `"s3-65536"` {
		t.Fatalf("after Change: seed %d etag %s", c.Seed, etag)
	}
	o2 := New(t, Options{Content: Content{Seed: 1, Size: 10}, ETag: `"v"`})
	o2.Change()
	if _, etag, lm := o2.Version(); etag != `"v-g1"` || !lm.After(DefaultLastModified) {
		t.Fatalf("custom ETag after Change: %s %v", etag, lm)
	}
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 100}})
	get(t, o, "HEAD", o.URL())
	get(t, o, "GET", o.URL(), "Range", "bytes=0-9", "If-Range", `"s1-100"`)
	get(t, o, "GET", o.URL(), "Range", "bytes=500-")
	get(t, o, "GET", o.Server.URL+"/nope")
	if o.Count("") != 4 || o.Count("GET") != 3 || o.Count("HEAD") != 1 || o.Count("PUT") != 0 {
		t.Fatalf("counts: all %d GET %d HEAD %d", o.Count(""), o.Count("GET"), o.Count("HEAD"))
	}
	reqs := o.Requests()
	want := []Request{
		{Method: "HEAD", Path: "/file.bin", Status: 200},
		{Method: "GET", Path: "/file.bin", Range: "bytes=0-9", IfRange: `"s1-100"`, Status: 206, BytesSent: 10},
		{Method: "GET", Path: "/file.bin", Range: "bytes=500-", Status: 416},
		{Method: "GET", Path: "/nope", Status: 404},
	}
	for i, w := range want {
		g := reqs[i]
		if g.Method != w.Method || g.Path != w.Path || g.Range != w.Range || g.IfRange != w.IfRange ||
			g.Status != w.Status || g.BytesSent != w.BytesSent || g.Time.IsZero() || g.Header == nil {
			t.Errorf("request %d = %+v, want %+v", i, g, w)
		}
	}
	if o.BytesServed() != 10 {
		t.Errorf("BytesServed = %d, want 10", o.BytesServed())
	}
	reqs[0].Method = "MUTATED"
	if o.Requests()[0].Method != "HEAD" {
		t.Error("Requests did not return a copy")
	}
}

func TestRedirect(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 100}, RedirectFrom: "/old"})
	resp, body, err := get(t, o, "GET", o.RedirectURL())
	if err != nil || resp.StatusCode != 200 || len(body) != 100 || resp.Request.URL.Path != "/file.bin" {
		t.Fatalf("followed redirect: %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
	c := o.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, m := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(m, o.RedirectURL(), nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "/file.bin" {
			t.Errorf("%s: %d Location %q", m, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if o.Count("GET") != 3 {
		t.Errorf("GET count = %d, want 3 (redirect + target + unfollowed)", o.Count("GET"))
	}
}

func TestBlock(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 1, Size: 1000}})
	release := o.Block()
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := o.Client().Get(o.URL())
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{b, err}
	}()
	fsmtest.Eventually(t, "GET to reach the barrier", func() bool { return o.Waiting() == 1 })
	select {
	case <-done:
		t.Fatal("GET finished while blocked")
	case <-time.After(50 * time.Millisecond):
	}
	if resp, _, _ := get(t, o, "HEAD", o.URL()); resp.StatusCode != 200 {
		t.Fatal("HEAD must not block")
	}
	release()
	release() // idempotent
	if r := <-done; r.err != nil || len(r.body) != 1000 {
		t.Fatalf("after release: %d bytes, %v", len(r.body), r.err)
	}

	// A client giving up while blocked frees the handler.
	o.Block()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", o.URL(), nil)
	resp, err := o.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	fsmtest.Eventually(t, "GET to reach the barrier", func() bool { return o.Waiting() == 1 })
	cancel()
	resp.Body.Close()
	fsmtest.Eventually(t, "blocked handler to exit", func() bool { return o.Active() == 0 && o.Waiting() == 0 })
}

// TestNoLeakOnDisconnect checks that a client abandoning a throttled or
// delayed download does not leave the handler running.
func TestNoLeakOnDisconnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"throttled", Options{Content: Content{Seed: 1, Size: 100 << 20}, BytesPerSecond: 1 << 20}},
		{"delayed", Options{Content: Content{Seed: 1, Size: 100}, FirstByteDelay: time.Hour}},
		{"unthrottled large", Options{Content: Content{Seed: 1, Size: 8 << 30}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New(t, tt.opts)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				// No t.Fatal here: this is not the test goroutine.
				for o.Count("") == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond)
				cancel()
			}()
			req, _ := http.NewRequestWithContext(ctx, "GET", o.URL(), nil)
			if resp, err := o.Client().Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			fsmtest.Eventually(t, "handler to exit", func() bool { return o.Active() == 0 })
		})
	}
}

// TestCloseDoesNotHang checks that Close returns even with a handler held
// at the barrier and a client that never reads.
func TestCloseDoesNotHang(t *testing.T) {
	t.Parallel()
	o := NewServer(Options{Content: Content{Seed: 1, Size: 8 << 30}})
	o.Block()
	resp, err := o.Client().Get(o.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stalled, err := http.Get(o.URL() + "x") // 404, then an idle connection
	if err == nil {
		stalled.Body.Close()
	}
	// A second, non-reading client on an unblocked big download.
	o2 := NewServer(Options{Content: Content{Seed: 1, Size: 8 << 30}})
	resp2, err := o2.Client().Get(o2.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	done := make(chan struct{})
	go func() { o.Close(); o2.Close(); o.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	if o.Active() != 0 || o2.Active() != 0 {
		t.Errorf("handlers still active after Close: %d, %d", o.Active(), o2.Active())
	}
}

func TestStallAfter(t *testing.T) {
	t.Parallel()
	c := Content{Seed: 3, Size: 100_000}
	o := New(t, Options{Content: c, StallAfter: 1000, StallCount: 1})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.URL(), nil)
	resp, err := o.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, got); err != nil || !bytes.Equal(got, c.Bytes(0, 1000)) {
		t.Fatalf("first 1000 bytes: %v", err)
	}
	// Nothing more comes: the next read only ends when the client gives up.
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 1))
		done <- err
	}()
	fsmtest.Eventually(t, "the stalled handler", func() bool { return o.Active() == 1 })
	select {
	case err := <-done:
		t.Fatalf("read after the stall point returned: %v", err)
	default:
	}
	cancel()
	<-done
	resp.Body.Close()
	// StallCount 1: the next response is whole.
	if _, body, err := get(t, o, "GET", o.URL()); err != nil || int64(len(body)) != c.Size {
		t.Fatalf("second GET: %d bytes, %v", len(body), err)
	}
}

func TestMaxRangeBytes(t *testing.T) {
	t.Parallel()
	c := Content{Seed: 4, Size: 10_000}
	o := New(t, Options{Content: c, MaxRangeBytes: 300})
	resp, body, err := get(t, o, "GET", o.URL(), "Range", "bytes=1000-5000")
	if err != nil || resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 1000-1299/10000" || !bytes.Equal(body, c.Bytes(1000, 300)) {
		t.Fatalf("capped range: %s %q %d bytes %v", resp.Status, resp.Header.Get("Content-Range"), len(body), err)
	}
	if resp, body, _ := get(t, o, "GET", o.URL(), "Range", "bytes=9900-"); resp.Header.Get("Content-Range") != "bytes 9900-9999/10000" || len(body) != 100 {
		t.Fatalf("short range: %q %d bytes", resp.Header.Get("Content-Range"), len(body))
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	o := New(t, Options{Content: Content{Seed: 5, Size: 10}, FailCount: 1, RetryAfter: "7"})
	resp, _, _ := get(t, o, "GET", o.URL())
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("injected failure: %s Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	if resp, _, _ := get(t, o, "GET", o.URL()); resp.Header.Get("Retry-After") != "" {
		t.Fatal("Retry-After on a normal answer")
	}
}

func TestSharedThrottle(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	o := New(t, Options{Content: Content{Seed: 1, Size: size}, SharedBytesPerSecond: 4e6})
	// Two concurrent downloads share the link: together 2 MiB at 4 MB/s
	// take >= 0.52 s, although each alone would take half that.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := o.Client().Get(o.URL())
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			switch {
			case err != nil:
				errs <- err
			case !bytes.Equal(body, o.opts.Content.Bytes(0, size)):
				errs <- errors.New("body differs")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("two downloads over a shared 4 MB/s took %v: the limit is not shared", el)
	}
}
