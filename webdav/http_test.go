package webdav

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"fsm/internal/fsmtest"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/guard"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

func TestOptions(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, p := range []string{"/", "/movie.mp4", "/nope"} {
		resp, _ := e.do("OPTIONS", p, nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("OPTIONS %s: %s", p, resp.Status)
		}
		if got := resp.Header.Get("DAV"); got != "1" {
			t.Errorf("OPTIONS %s: DAV = %q, want \"1\" (Finder mounts read-only)", p, got)
		}
		allow := resp.Header.Get("Allow")
		for _, m := range []string{"GET", "HEAD", "PROPFIND", "OPTIONS"} {
			if !strings.Contains(allow, m) {
				t.Errorf("OPTIONS %s: Allow %q lacks %s", p, allow, m)
			}
		}
		for _, m := range []string{"PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK", "POST"} {
			if strings.Contains(allow, m) {
				t.Errorf("OPTIONS %s: Allow %q offers %s", p, allow, m)
			}
		}
		if got := resp.Header.Get("MS-Author-Via"); got != "DAV" {
			t.Errorf("MS-Author-Via = %q", got)
		}
	}
}

const propfindNamed = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop>
<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:creationdate/><D:getcontenttype/><D:getetag/>
</D:prop></D:propfind>`

func TestPropfindDepth(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "series/s01/e01.mkv", "series/e00 pilot.mkv"}})
	f := e.file("movie.mp4")

	resp, body := e.do("PROPFIND", "/", map[string]string{"Depth": "0"}, propfindNamed)
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("Depth 0: %s\n%s", resp.Status, body)
	}
	ms := parseMultistatus(t, body)
	if len(ms) != 1 || ms["/"] == nil {
		t.Fatalf("Depth 0 on / answered %v", ms)
	}
	if !strings.Contains(ms["/"]["200 resourcetype"], "collection") {
		t.Errorf("root is not a collection: %v", ms["/"])
	}

	resp, body = e.do("PROPFIND", "/", map[string]string{"Depth": "1"}, propfindNamed)
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("Depth 1: %s\n%s", resp.Status, body)
	}
	ms = parseMultistatus(t, body)
	if len(ms) != 3 || ms["/movie.mp4"] == nil || ms["/series/"] == nil {
		t.Fatalf("Depth 1 on / answered %d responses: %v", len(ms), ms)
	}
	m := ms["/movie.mp4"]
	want := map[string]string{
		"200 getcontentlength": strconv.FormatInt(f.Size(), 10),
		"200 getlastmodified":  f.ModTime().UTC().Format(http.TimeFormat),
		"200 getcontenttype":   "video/mp4",
		"200 getetag":          f.ETag(),
		"200 resourcetype":     "",
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("movie.mp4 %s = %q (present %v), want %q", k, got, ok, v)
		}
	}

	resp, body = e.do("PROPFIND", "/series/", map[string]string{"Depth": "1"}, "")
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("Depth 1 allprop on folder: %s", resp.Status)
	}
	ms = parseMultistatus(t, body)
	if ms["/series/e00%20pilot.mkv"] == nil || ms["/series/s01/"] == nil || len(ms) != 3 {
		t.Errorf("Depth 1 on /series/: %v", ms)
	}

	for _, depth := range []string{"infinity", "Infinity", ""} {
		hdr := map[string]string{}
		if depth != "" {
			hdr["Depth"] = depth
		}
		resp, body = e.do("PROPFIND", "/", hdr, propfindNamed)
		if resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("propfind-finite-depth")) {
			t.Errorf("Depth %q: %s %s, want 403 with propfind-finite-depth", depth, resp.Status, body)
		}
	}

	resp, _ = e.do("PROPFIND", "/missing.bin", map[string]string{"Depth": "0"}, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("PROPFIND on a missing name: %s", resp.Status)
	}
	if e.originGETs() != 0 {
		t.Errorf("PROPFIND made %d origin GETs", e.originGETs())
	}
}

func TestPropfindNoQuota(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>
<D:quota-available-bytes/><D:quota-used-bytes/><D:getcontentlength/></D:prop></D:propfind>`
	for _, p := range []string{"/", "/movie.mp4"} {
		resp, b := e.do("PROPFIND", p, map[string]string{"Depth": "0"}, body)
		if resp.StatusCode != http.StatusMultiStatus {
			t.Fatalf("%s: %s", p, resp.Status)
		}
		ms := parseMultistatus(t, b)
		for href, m := range ms {
			for _, q := range []string{"quota-available-bytes", "quota-used-bytes"} {
				if _, ok := m["404 "+q]; !ok {
					t.Errorf("%s: %s not answered 404: %v", href, q, m)
				}
				if _, ok := m["200 "+q]; ok {
					t.Errorf("%s: %s has a value", href, q)
				}
			}
		}
	}
	_, b := e.do("PROPFIND", "/", map[string]string{"Depth": "1"}, "")
	if bytes.Contains(b, []byte("quota")) {
		t.Errorf("allprop mentions quota:\n%s", b)
	}
}

// TestReadOnlyProtected is modelled on litmus's protected-resource checks:
// every write method is refused with 403 or 405 (never 404, never 500),
// whether the target exists or not, and the tree is unchanged afterwards.
func TestReadOnlyProtected(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "dir/a.txt"}})
	before := e.fs.Files()
	dest := map[string]string{"Destination": e.url("/copy.mp4"), "Overwrite": "T"}
	lock := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	patch := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:x xmlns:Z="urn:z">1</Z:x></D:prop></D:set></D:propertyupdate>`
	cases := []struct {
		method, path string
		hdr          map[string]string
		body         string
	}{
		{"PUT", "/movie.mp4", nil, "new"},
		{"PUT", "/new.txt", nil, "new"},
		{"PUT", "/nodir/new.txt", nil, "new"},
		{"PUT", "/._movie.mp4", nil, "apple double"},
		{"PUT", "/.DS_Store", nil, "x"},
		{"DELETE", "/movie.mp4", nil, ""},
		{"DELETE", "/dir/", nil, ""},
		{"DELETE", "/nope", nil, ""},
		{"MKCOL", "/newdir", nil, ""},
		{"MKCOL", "/dir", nil, ""},
		{"COPY", "/movie.mp4", dest, ""},
		{"MOVE", "/movie.mp4", dest, ""},
		{"MOVE", "/dir/", map[string]string{"Destination": e.url("/dir2/")}, ""},
		{"PROPPATCH", "/movie.mp4", nil, patch},
		{"PROPPATCH", "/nope", nil, patch},
		{"LOCK", "/movie.mp4", map[string]string{"Timeout": "Second-60"}, lock},
		{"LOCK", "/nope", nil, lock},
		{"UNLOCK", "/movie.mp4", map[string]string{"Lock-Token": "<opaquelocktoken:x>"}, ""},
		{"POST", "/movie.mp4", nil, "x"},
		{"PATCH", "/movie.mp4", nil, "x"},
		{"ACL", "/movie.mp4", nil, ""},
		{"SEARCH", "/", nil, ""},
	}
	for _, c := range cases {
		resp, body := e.do(c.method, c.path, c.hdr, c.body)
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %s %s; want 403 or 405", c.method, c.path, resp.Status, body)
		}
		if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
	after := e.fs.Files()
	if len(after) != len(before) {
		t.Fatalf("tree changed: %d files before, %d after", len(before), len(after))
	}
	resp, body := e.do("GET", "/movie.mp4", nil, "")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, e.content.Bytes(0, e.content.Size)) {
		t.Errorf("movie.mp4 changed: %s, %d bytes", resp.Status, len(body))
	}
}

func TestJunkAndControlNotFound(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "dir/a.txt"}})
	for _, p := range []string{"/._movie.mp4", "/.DS_Store", "/dir/desktop.ini", "/Thumbs.db", "/.Spotlight-V100",
		"/.fsm", "/.fsm/", "/.fsm/api/v1/files", "/dir/._a.txt", "/.metadata_never_index"} {
		for _, m := range []string{"GET", "HEAD", "PROPFIND"} {
			resp, _ := e.do(m, p, map[string]string{"Depth": "0"}, "")
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s: %s, want 404", m, p, resp.Status)
			}
		}
	}
	_, body := e.do("PROPFIND", "/", map[string]string{"Depth": "1"}, "")
	if bytes.Contains(body, []byte(".fsm")) {
		t.Errorf("listing shows .fsm")
	}
}

// TestGetRange checks each Range rule over HTTP: what is served, with
// which status, Content-Range and bytes.
func TestGetRange(t *testing.T) {
	e := newEnv(t, envOptions{})
	size := e.content.Size
	f := e.file("movie.mp4")
	const unsat = -1
	cases := []struct {
		rng        string
		code       int
		start, end int64 // inclusive; unused for 416
	}{
		{"", 200, 0, size - 1},
		{"bytes=0-0", 206, 0, 0},
		{"bytes=100-199", 206, 100, 199},
		{"bytes=1048570-2097160", 206, 1048570, 2097160},
		{fmt.Sprintf("bytes=%d-", size-10), 206, size - 10, size - 1},
		{"bytes=-500", 206, size - 500, size - 1},
		{fmt.Sprintf("bytes=-%d", size+5), 206, 0, size - 1},
		{fmt.Sprintf("bytes=%d-%d", size-3, size+100), 206, size - 3, size - 1},
		{"BYTES = 10-19", 206, 10, 19},
		// Multi-range: the first satisfiable range alone.
		{"bytes=0-9,20-29", 206, 0, 9},
		{fmt.Sprintf("bytes=%d-,30-39", size), 206, 30, 39},
		// Ignored: an unknown unit, an invalid set.
		{"items=0-5", 200, 0, size - 1},
		{"bytes=5-2", 200, 0, size - 1},
		{"bytes=abc", 200, 0, size - 1},
		{"bytes=99999999999999999999-", 200, 0, size - 1},
		{"bytes=", 200, 0, size - 1},
		// Unsatisfiable.
		{"bytes=-0", 416, unsat, unsat},
		{fmt.Sprintf("bytes=%d-", size), 416, unsat, unsat},
		{fmt.Sprintf("bytes=%d-%d,-0", size, size+9), 416, unsat, unsat},
	}
	for _, c := range cases {
		hdr := map[string]string{}
		if c.rng != "" {
			hdr["Range"] = c.rng
		}
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := e.do(method, "/movie.mp4", hdr, "")
			if resp.StatusCode != c.code {
				t.Fatalf("%s Range %q: %s, want %d", method, c.rng, resp.Status, c.code)
			}
			cr := resp.Header.Get("Content-Range")
			switch c.code {
			case 416:
				if want := fmt.Sprintf("bytes */%d", size); cr != want {
					t.Errorf("%s Range %q: 416 with Content-Range %q, want %q", method, c.rng, cr, want)
				}
				continue
			case 206:
				if want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size); cr != want {
					t.Errorf("%s Range %q: Content-Range %q, want %q", method, c.rng, cr, want)
				}
			default:
				if cr != "" {
					t.Errorf("%s Range %q: 200 with Content-Range %q", method, c.rng, cr)
				}
			}
			if want := strconv.FormatInt(c.end-c.start+1, 10); resp.Header.Get("Content-Length") != want {
				t.Errorf("%s Range %q: Content-Length %q, want %s", method, c.rng, resp.Header.Get("Content-Length"), want)
			}
			if method == "GET" && !bytes.Equal(body, e.content.Bytes(c.start, c.end-c.start+1)) {
				t.Fatalf("Range %q: wrong bytes (%d)", c.rng, len(body))
			}
			if got := resp.Header.Get("Content-Type"); got != "video/mp4" {
				t.Errorf("Content-Type %q", got)
			}
			if got := resp.Header.Get("ETag"); got != f.ETag() {
				t.Errorf("ETag %q, want %q", got, f.ETag())
			}
			if got := resp.Header.Get("Last-Modified"); got != f.ModTime().UTC().Format(http.TimeFormat) {
				t.Errorf("Last-Modified %q", got)
			}
		}
	}
	resp, _ := e.do("GET", "/nope.mp4", nil, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET missing: %s", resp.Status)
	}
}

// TestGetEmptyFile: an empty file has no satisfiable range at all.
func TestGetEmptyFile(t *testing.T) {
	e := newEnv(t, envOptions{})
	empty := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 0}})
	if _, err := e.fs.Stage(context.Background(), vfs.Request{URL: empty.URL(), Name: "empty.bin"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rng  string
		code int
	}{{"", 200}, {"bytes=-1", 416}, {"bytes=0-", 416}, {"bytes=0-0", 416}, {"items=0-1", 200}} {
		hdr := map[string]string{}
		if c.rng != "" {
			hdr["Range"] = c.rng
		}
		resp, body := e.do("GET", "/empty.bin", hdr, "")
		if resp.StatusCode != c.code {
			t.Errorf("Range %q on an empty file: %s, want %d", c.rng, resp.Status, c.code)
		}
		if c.code == 416 && resp.Header.Get("Content-Range") != "bytes */0" {
			t.Errorf("Range %q on an empty file: Content-Range %q, want bytes */0", c.rng, resp.Header.Get("Content-Range"))
		}
		if c.code == 200 && (len(body) != 0 || resp.Header.Get("Content-Length") != "0") {
			t.Errorf("GET empty file: %d bytes, Content-Length %q", len(body), resp.Header.Get("Content-Length"))
		}
	}
}

func TestHeadAndConditionals(t *testing.T) {
	e := newEnv(t, envOptions{})
	f := e.file("movie.mp4")
	lm := f.ModTime().UTC().Format(http.TimeFormat)

	resp, body := e.do("HEAD", "/movie.mp4", nil, "")
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("HEAD: %s, %d body bytes", resp.Status, len(body))
	}
	for k, v := range map[string]string{
		"Content-Length": strconv.FormatInt(f.Size(), 10), "Content-Type": "video/mp4",
		"ETag": f.ETag(), "Last-Modified": lm, "Accept-Ranges": "bytes",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("HEAD %s = %q, want %q", k, got, v)
		}
	}
	resp, _ = e.do("HEAD", "/movie.mp4", map[string]string{"Range": "bytes=10-19"}, "")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", f.Size()) {
		t.Errorf("HEAD with Range: %s %q", resp.Status, resp.Header.Get("Content-Range"))
	}
	resp, _ = e.do("GET", "/movie.mp4", map[string]string{"If-None-Match": f.ETag()}, "")
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %s", resp.Status)
	}
	resp, _ = e.do("GET", "/movie.mp4", map[string]string{"If-Modified-Since": lm}, "")
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %s", resp.Status)
	}
	resp, _ = e.do("GET", "/movie.mp4", map[string]string{"If-Match": `"other"`}, "")
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("If-Match: %s", resp.Status)
	}
	if n := e.originGETs(); n != 0 {
		t.Fatalf("HEAD and conditionals made %d origin GETs", n)
	}

	// If-Range: a matching validator gets the range, a stale one the whole file
	// (webdavfs resumes with Range: bytes=N- and If-Range: <date>).
	stale := f.ModTime().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		ifRange string
		code    int
	}{{f.ETag(), 206}, {lm, 206}, {`"stale"`, 200}, {stale, 200}} {
		resp, body := e.do("GET", "/movie.mp4", map[string]string{"Range": "bytes=1000-", "If-Range": c.ifRange}, "")
		if resp.StatusCode != c.code {
			t.Errorf("If-Range %s: %s, want %d", c.ifRange, resp.Status, c.code)
			continue
		}
		off := int64(0)
		if c.code == 206 {
			off = 1000
		}
		if !bytes.Equal(body, e.content.Bytes(off, f.Size())) {
			t.Errorf("If-Range %s: wrong bytes", c.ifRange)
		}
	}
}

func TestOriginFailsAtOnce(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			e := newEnv(t, envOptions{origin: testorigin.Options{FailCount: 1 << 20, FailStatus: status}})
			for _, rng := range []string{"", "bytes=2000000-"} {
				hdr := map[string]string{}
				if rng != "" {
					hdr["Range"] = rng
				}
				resp, body := e.do("GET", "/movie.mp4", hdr, "")
				if resp.StatusCode != http.StatusBadGateway {
					t.Fatalf("GET (Range %q) with a failing origin: %s, want 502", rng, resp.Status)
				}
				if !bytes.Contains(body, []byte(strconv.Itoa(status))) || !bytes.Contains(body, []byte("movie.mp4")) {
					t.Errorf("502 body does not say why: %q", body)
				}
				if resp.Header.Get("Content-Range") != "" || resp.Header.Get("ETag") != "" {
					t.Errorf("502 carries file headers: %v", resp.Header)
				}
			}
			if logs := e.logs.String(); !strings.Contains(logs, "GET failed") || !strings.Contains(logs, strconv.Itoa(status)) {
				t.Errorf("failure not logged:\n%s", logs)
			}
		})
	}
}

func TestMidStreamFailureAborts(t *testing.T) {
	// The origin's file changes after 256 KiB; the store fetches 64 KiB at
	// a time, so a whole-file GET starts fine and then cannot go on.
	e := newEnv(t, envOptions{
		origin: testorigin.Options{ChangeAfter: 256 << 10},
		store:  store.Options{ChunkSize: 64 << 10, Connections: 1, MaxFetchers: 1, NearWindow: 64 << 10},
	})
	resp, err := e.srv.Client().Get(e.url("/movie.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %s", resp.Status)
	}
	got, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("GET ended cleanly after %d of %d bytes; want a broken response", len(got), e.content.Size)
	}
	if !bytes.Equal(got, e.content.Bytes(0, int64(len(got)))) {
		t.Errorf("bytes before the break are not the staged version's")
	}
	if int64(len(got)) >= e.content.Size {
		t.Errorf("got the whole file and an error")
	}
	if !strings.Contains(e.logs.String(), "aborted mid-stream") {
		t.Errorf("abort not logged")
	}
}

// TestNoOriginRequests proves that listing, HEAD, OPTIONS, conditional GETs
// and opening without reading never reach the origin nor open a handle.
func TestNoOriginRequests(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "dir/b.bin"}})
	base := e.origin.Count("")
	f := e.file("movie.mp4")
	allprop := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`
	propname := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`
	gvfs := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontenttype/><D:getetag/><D:displayname/><D:supportedlock/></D:prop></D:propfind>`
	for _, p := range []string{"/", "/movie.mp4", "/dir/", "/dir/b.bin"} {
		for _, d := range []string{"0", "1"} {
			for _, b := range []string{"", allprop, propname, gvfs, propfindNamed} {
				resp, _ := e.do("PROPFIND", p, map[string]string{"Depth": d}, b)
				if resp.StatusCode != http.StatusMultiStatus {
					t.Fatalf("PROPFIND %s: %s", p, resp.Status)
				}
			}
		}
		e.do("OPTIONS", p, nil, "")
		e.do("HEAD", p, nil, "")
		e.do("HEAD", p, map[string]string{"Range": "bytes=5-"}, "")
	}
	e.do("GET", "/movie.mp4", map[string]string{"If-None-Match": f.ETag()}, "")
	e.do("GET", "/", nil, "")
	e.do("GET", "/._movie.mp4", nil, "")

	fsys := &fileSystem{fs: e.fs}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		file, err := fsys.OpenFile(ctx, "/movie.mp4", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := file.Stat(); err != nil || fi.Size() != f.Size() {
			t.Fatalf("Stat: %v %v", fi, err)
		}
		if f.Progress().Handles != 0 {
			t.Fatalf("OpenFile opened a vfs handle")
		}
		file.Close()
	}
	if n := e.origin.Count(""); n != base {
		for _, r := range e.origin.Requests()[base:] {
			t.Logf("origin saw %s %s Range=%q", r.Method, r.Path, r.Range)
		}
		t.Fatalf("metadata requests reached the origin %d times", n-base)
	}
	if p := f.Progress(); p.State != store.StateIdle || p.Present != 0 || p.Handles != 0 {
		t.Fatalf("store touched: %+v", p)
	}
}

// TestConcurrentRangeGets runs 32 Range GETs on one file while its
// throttled download runs; every answer must be byte-exact.
func TestConcurrentRangeGets(t *testing.T) {
	e := newEnv(t, envOptions{
		origin: testorigin.Options{Content: testorigin.Content{Seed: 3, Size: 4 << 20}, BytesPerSecond: 16 << 20},
		store:  store.Options{ChunkSize: 512 << 10},
	})
	size := e.content.Size
	rng := rand.New(rand.NewPCG(1, 2))
	type job struct{ a, b int64 }
	jobs := make([]job, 32)
	for i := range jobs {
		a := rng.Int64N(size)
		b := min(size-1, a+rng.Int64N(1<<20))
		if i%8 == 0 {
			a = 0 // some from the start, like Finder's whole-file GET
		}
		jobs[i] = job{a, b}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.url("/movie.mp4"), nil)
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", j.a, j.b))
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			switch {
			case err != nil:
				errs <- fmt.Errorf("bytes %d-%d: %w", j.a, j.b, err)
			case resp.StatusCode != 206:
				errs <- fmt.Errorf("bytes %d-%d: %s", j.a, j.b, resp.Status)
			case !bytes.Equal(body, e.content.Bytes(j.a, j.b-j.a+1)):
				errs <- fmt.Errorf("bytes %d-%d: wrong content (%d bytes)", j.a, j.b, len(body))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	fsmtest.Eventually(t, "handles released", func() bool { return e.file("movie.mp4").Progress().Handles == 0 })
}

// TestClientDisconnect: a client that goes away while its GET waits for
// the origin (before the first byte, or in the middle of the body) frees the
// handler and its handle at once; the download carries on and serves the
// next reader without starting over.
func TestClientDisconnect(t *testing.T) {
	t.Run("before the first byte", func(t *testing.T) {
		e := newEnv(t, envOptions{track: true, origin: testorigin.Options{Content: testorigin.Content{Seed: 9, Size: 1 << 20}}})
		release := e.origin.Block()
		defer release()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url("/movie.mp4"), nil)
		done := make(chan error, 1)
		go func() {
			resp, err := e.srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("GET returned %s while the origin was blocked", resp.Status)
			}
			done <- err
		}()
		fsmtest.Eventually(t, "the origin to hold the download", func() bool { return e.origin.Waiting() > 0 })
		if h := e.file("movie.mp4").Progress().Handles; h != 1 {
			t.Fatalf("handles = %d while the GET waits", h)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("client: %v", err)
		}
		e.checkFreedAndCarriesOn(release)
	})
	t.Run("mid-body", func(t *testing.T) {
		e := newEnv(t, envOptions{track: true, origin: testorigin.Options{
			Content: testorigin.Content{Seed: 10, Size: 768 << 10}, BytesPerSecond: 1 << 20}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url("/movie.mp4"), nil)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 64<<10)
		if _, err := io.ReadFull(resp.Body, part); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(part, e.content.Bytes(0, int64(len(part)))) {
			t.Fatal("first bytes differ")
		}
		cancel()
		resp.Body.Close()
		e.checkFreedAndCarriesOn(func() {})
	})
}

// checkFreedAndCarriesOn waits for the abandoned GET's handler to return,
// checks its handle is released, then reads the whole file and checks the
// origin download from byte 0 was never restarted.
func (e *env) checkFreedAndCarriesOn(release func()) {
	t := e.t
	t.Helper()
	select {
	case got := <-e.exits:
		if got != "GET /movie.mp4" {
			t.Fatalf("unexpected handler exit %q", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("handler still running after its client went away")
	}
	if h := e.file("movie.mp4").Progress().Handles; h != 0 {
		t.Fatalf("handles = %d after the handler returned", h)
	}
	release()
	resp, body := e.do("GET", "/movie.mp4", nil, "")
	if resp.StatusCode != 200 || !bytes.Equal(body, e.content.Bytes(0, e.content.Size)) {
		t.Fatalf("next reader: %s, %d bytes", resp.Status, len(body))
	}
	starts := 0
	for _, r := range e.origin.Requests() {
		if r.Method == "GET" && strings.HasPrefix(r.Range, "bytes=0-") {
			starts++
		}
	}
	if starts != 1 {
		t.Errorf("the download from byte 0 was started %d times; want 1 (carried on after the client left)", starts)
	}
}

func TestFolderPage(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "series/e01 <b>.mkv"}})
	resp, body := e.do("GET", "/", nil, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	page := string(body)
	for _, want := range []string{`href="/movie.mp4"`, `href="/series/"`, "3.0 MiB", `href="/.fsm/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("root page lacks %s:\n%s", want, page)
		}
	}
	_, body = e.do("GET", "/series", nil, "")
	page = string(body)
	for _, want := range []string{`href="/series/e01%20%3Cb%3E.mkv"`, "e01 &lt;b&gt;.mkv", `href="/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("folder page lacks %s:\n%s", want, page)
		}
	}
	resp, body = e.do("HEAD", "/series/", nil, "")
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD folder: %s", resp.Status)
	}
	if e.originGETs() != 0 {
		t.Errorf("folder pages reached the origin")
	}
}

// TestNoLocks: a class 1 server offers no locks. PROPFIND lists
// supportedlock empty (allprop, by name, at Depth 1), LOCK gets 405.
func TestNoLocks(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "dir/a.bin"}})
	named := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:supportedlock/><D:lockdiscovery/><D:getetag/></D:prop></D:propfind>`
	for _, b := range []string{"", named, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`} {
		for _, p := range []string{"/", "/movie.mp4", "/dir/"} {
			resp, body := e.do("PROPFIND", p, map[string]string{"Depth": "1"}, b)
			if resp.StatusCode != http.StatusMultiStatus {
				t.Fatalf("PROPFIND %s: %s", p, resp.Status)
			}
			if bytes.Contains(body, []byte("lockentry")) || bytes.Contains(body, []byte("exclusive")) {
				t.Errorf("PROPFIND %s offers a lock:\n%s", p, body)
			}
			for href, m := range parseMultistatus(t, body) {
				if v, ok := m["200 supportedlock"]; !ok || v != "" {
					t.Errorf("%s: supportedlock %q (present %v), want present and empty", href, v, ok)
				}
			}
		}
	}
	lock := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	if resp, _ := e.do("LOCK", "/movie.mp4", nil, lock); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("LOCK: %s, want 405", resp.Status)
	}
}

// TestDropWriter: an occurrence split over any two writes is still removed,
// and everything else passes unchanged.
func TestDropWriter(t *testing.T) {
	in := "<a>" + lockEntry + "</a><b>" + lockEntry + lockEntry + "</b><D:lockentry" + "x"
	want := "<a></a><b></b><D:lockentryx"
	for step := 1; step <= len(in); step++ {
		rec := httptest.NewRecorder()
		d := &dropWriter{ResponseWriter: rec, drop: []byte(lockEntry)}
		for i := 0; i < len(in); i += step {
			d.Write([]byte(in[i:min(i+step, len(in))]))
		}
		d.flush()
		if got := rec.Body.String(); got != want {
			t.Fatalf("writes of %d bytes: got %q, want %q", step, got, want)
		}
	}
}

// TestClientMistakesLogAtDebug: a bad Depth, malformed XML and write
// methods are the client's fault; they must not log one warning each.
func TestClientMistakesLogAtDebug(t *testing.T) {
	e := newEnv(t, envOptions{})
	cases := []struct {
		method, path string
		hdr          map[string]string
		body         string
		code         int
	}{
		{"PROPFIND", "/", map[string]string{"Depth": "2"}, "", http.StatusBadRequest},
		{"PROPFIND", "/", map[string]string{"Depth": "1"}, "<D:propfind xmlns:D='DAV:'><D:prop>", http.StatusBadRequest},
		{"PROPFIND", "/", map[string]string{"Depth": "1"}, "not xml at all", http.StatusBadRequest},
		{"PROPFIND", "/nope.bin", map[string]string{"Depth": "0"}, "", http.StatusNotFound},
		{"PUT", "/movie.mp4", nil, "x", http.StatusForbidden},
		{"LOCK", "/movie.mp4", nil, "", http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		resp, body := e.do(c.method, c.path, c.hdr, c.body)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %s %s, want %d", c.method, c.path, resp.Status, body, c.code)
		}
	}
	logs := e.logs.String()
	if strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("client mistakes logged as warnings:\n%s", logs)
	}
	if n := strings.Count(logs, "level=DEBUG"); n < len(cases) {
		t.Errorf("%d debug lines for %d client mistakes:\n%s", n, len(cases), logs)
	}
}

// TestOptionsStar: "OPTIONS *" reaches the guards and the handler like any
// other request when the server passes it on (DisableGeneralOptionsHandler),
// and the handler answers it as it answers OPTIONS on a path.
func TestOptionsStar(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = guard.Host(e.handler, nil, srv.Listener.Addr().String())
	srv.Config.DisableGeneralOptionsHandler = true
	srv.Start()
	defer srv.Close()
	for _, c := range []struct {
		host string
		code int
	}{{"evil.example", http.StatusForbidden}, {"localhost", http.StatusOK}} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "OPTIONS * HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", c.host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.code {
			t.Errorf("OPTIONS * with Host %s: %s, want %d", c.host, resp.Status, c.code)
		}
		if c.code == http.StatusOK && resp.Header.Get("DAV") != "1" {
			t.Errorf("OPTIONS *: DAV %q, want 1", resp.Header.Get("DAV"))
		}
	}
}
