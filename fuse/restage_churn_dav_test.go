//go:build fuse

package fuse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/vfs"
	"fsm/webdav"
)

// churnDuration is how long TestRestageChurnAllReaders churns: the
// issue's minute, or a few seconds with -short.
func churnDuration() time.Duration {
	if testing.Short() {
		return 5 * time.Second
	}
	return time.Minute
}

// Several names are staged and unstaged over and over, each alternating
// between two origin files, while FUSE and WebDAV readers of every name
// check each byte against the file of the staging they opened: a FUSE
// handle knows its staging by fstat (the two files differ in size), a
// WebDAV answer by its Content-Range or Content-Length. A WebDAV reader
// asks again with If-Range and the ETag it got: a 206 must be the same
// file, a 200 the whole file staged now; a quarter of its GETs ask for
// the whole file and read the second half only once the name was
// unstaged. One name's origins send no validators, so its two files look
// alike but for their size.
func TestRestageChurnAllReaders(t *testing.T) {
	e := newRestageEnv(t)
	dav := httptest.NewServer(webdav.NewHandler(e.fsys, webdav.Options{Logger: testLogger(t)}))
	t.Cleanup(dav.Close)
	contents := []testorigin.Content{{Seed: 601, Size: 1<<20 + 3}, {Seed: 602, Size: 2<<20 + 5}}
	origins := func(o testorigin.Options) []string {
		urls := make([]string, len(contents))
		for i, c := range contents {
			o.Content = c
			urls[i] = testorigin.New(t, o).URL()
		}
		return urls
	}
	validated, bare := origins(testorigin.Options{}), origins(testorigin.Options{NoETag: true, NoLastModified: true})
	names := []struct {
		name string
		urls []string
	}{
		{"churn/a.bin", validated},
		{"churn/b.bin", bare},
		{"churn/c d.bin", validated},
	}
	const fuseReaders, davReaders = 2, 2

	var stats churnStats
	done := make(chan struct{})
	errs := make(chan error, len(names)*(fuseReaders+davReaders+1))
	// failed ends the stagers at the first error, so that a reader that
	// gave up does not leave its stager waiting in vain.
	failed := make(chan struct{})
	var failOnce sync.Once
	report := func(err error) {
		if err != nil {
			failOnce.Do(func() { close(failed) })
		}
		errs <- err
	}
	var readers, stagers sync.WaitGroup
	deadline := time.Now().Add(churnDuration())
	for i, n := range names {
		// Each reader says, without blocking, that it opened a staging;
		// the stager waits for one of each kind before it unstages.
		fuseOpened, davOpened := make(chan struct{}, 1), make(chan struct{}, 1)
		ends := newRoundEnds()
		path := filepath.Join(e.dir, filepath.FromSlash(n.name))
		for r := range fuseReaders {
			readers.Add(1)
			go func() {
				defer readers.Done()
				opens := countOpens(fuseOpened, &stats.fuseOpens)
				defer close(opens)
				report(churnReader(path, contents, uint64(1000*i+r), opens, done))
			}()
		}
		url := dav.URL + "/" + strings.ReplaceAll(n.name, " ", "%20")
		for r := range davReaders {
			readers.Add(1)
			go func() {
				defer readers.Done()
				opens := countOpens(davOpened, &stats.davGets)
				defer close(opens)
				report(davChurnReader(url, contents, uint64(1000*i+100+r), opens, ends, &stats, done))
			}()
		}
		stagers.Add(1)
		go func() {
			defer stagers.Done()
			report(churnStager(e.fsys, n.name, n.urls, deadline, fuseOpened, davOpened, failed, ends, &stats))
		}()
	}
	stagers.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d stagings; at least %d FUSE opens and %d WebDAV GETs (%d bytes checked), %d If-Range answers of the same staging, %d of a newer one, %d whole GETs read across an unstage",
		stats.stagings.Load(), stats.fuseOpens.Load(), stats.davGets.Load(), stats.davBytes.Load(), stats.sameStaging.Load(), stats.newerStaging.Load(), stats.acrossUnstage.Load())
}

type churnStats struct {
	stagings, fuseOpens, davGets, davBytes atomic.Int64
	sameStaging, newerStaging              atomic.Int64
	acrossUnstage                          atomic.Int64 // whole GETs read on across an unstage
}

// countOpens forwards a reader's opens to the stager, counting them on the
// way (at least: a reader drops a signal while the last is not taken).
func countOpens(to chan<- struct{}, n *atomic.Int64) chan<- struct{} {
	c := make(chan struct{}, 1)
	go func() {
		for range c {
			n.Add(1)
			select {
			case to <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

// churnStager stages name from urls in turn until deadline; each staging
// stays until a FUSE reader and a WebDAV reader opened the name. It ends
// early, quietly, once failed is closed.
func churnStager(fsys *vfs.FS, name string, urls []string, deadline time.Time, fuseOpened, davOpened, failed <-chan struct{}, ends *roundEnds, stats *churnStats) error {
	for round := 0; time.Now().Before(deadline); round++ {
		if _, err := fsys.Stage(context.Background(), vfs.Request{URL: urls[round%len(urls)], Name: name}); err != nil {
			return fmt.Errorf("%s round %d: stage: %w", name, round, err)
		}
		stats.stagings.Add(1)
		for what, opened := range map[string]<-chan struct{}{"FUSE": fuseOpened, "WebDAV": davOpened} {
			select {
			case <-opened:
			case <-failed:
				return nil
			case <-time.After(30 * time.Second):
				return fmt.Errorf("%s round %d: no %s reader opened it in 30 s", name, round, what)
			}
		}
		if err := fsys.Unstage(context.Background(), name); err != nil {
			return fmt.Errorf("%s round %d: unstage: %w", name, round, err)
		}
		ends.next()
	}
	return nil
}

// davChurnReader GETs random ranges of url until done, each checked
// against the file its answer names by size, then asks again with
// If-Range.
func davChurnReader(url string, contents []testorigin.Content, seed uint64, opened chan<- struct{}, ends *roundEnds, stats *churnStats, done <-chan struct{}) error {
	rng := rand.New(rand.NewPCG(seed, 11))
	client := &http.Client{Timeout: 60 * time.Second}
	maxSize := contents[len(contents)-1].Size
	for {
		select {
		case <-done:
			return nil
		default:
		}
		signal := func() {
			select {
			case opened <- struct{}{}:
			default:
			}
		}
		if rng.IntN(4) == 0 {
			// The whole file: half its body read, then the rest once
			// the name was unstaged (and maybe staged again).
			unstaged := ends.current()
			a, err := davGet(client, url, davRange{}, "", contents, func() {
				signal()
				select {
				case <-unstaged:
				case <-done:
				}
			})
			if err != nil {
				return err
			}
			stats.davBytes.Add(a.n)
			if a.status == http.StatusOK {
				select {
				case <-unstaged:
					stats.acrossUnstage.Add(1)
				default:
				}
			}
			continue
		}
		a, err := davGet(client, url, davRange{rng.Int64N(maxSize + 4096), rng.Int64N(512<<10) + 1}, "", contents, nil)
		if err != nil {
			return err
		}
		if a.status != http.StatusPartialContent {
			continue // not staged now, or a range past this file's end
		}
		signal()
		stats.davBytes.Add(a.n)
		b, err := davGet(client, url, davRange{rng.Int64N(a.c.Size), rng.Int64N(512<<10) + 1}, a.etag, contents, nil)
		if err != nil {
			return err
		}
		stats.davBytes.Add(b.n)
		switch {
		case b.status == http.StatusPartialContent && b.c != a.c:
			return fmt.Errorf("GET %s with If-Range %s: 206 of the %d-byte file, but that ETag was the %d-byte file's", url, a.etag, b.c.Size, a.c.Size)
		case b.status == http.StatusPartialContent:
			stats.sameStaging.Add(1)
		case b.status == http.StatusOK:
			stats.newerStaging.Add(1)
		}
	}
}

// davAnswer is what one checked GET answered.
type davAnswer struct {
	status int
	c      testorigin.Content // the file it served; zero for a 404
	etag   string
	n      int64 // bytes checked
}

// davRange is the range a GET asks for: n bytes at off; n 0 asks for the
// whole file, without a Range header.
type davRange struct{ off, n int64 }

// davGet asks for r (If-Range ifRange when set), calls midBody (when not
// nil) once half of a 200's body is read, and checks the answer: a 206 must be exactly the
// range asked for, cut at the end of the file its Content-Range names, a
// 200 (no range asked for, or If-Range did not hold) the whole file of its
// Content-Length, a 416 a range past that file's end, a 404 no more than
// that the name is not staged now. Its body must be that file's bytes,
// whole.
func davGet(client *http.Client, url string, r davRange, ifRange string, contents []testorigin.Content, midBody func()) (davAnswer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return davAnswer{}, err
	}
	off, n := r.off, r.n
	what := fmt.Sprintf("GET %s whole", url)
	if n > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		what = fmt.Sprintf("GET %s bytes=%d-%d (If-Range %q)", url, off, off+n-1, ifRange)
	}
	if ifRange != "" {
		req.Header.Set("If-Range", ifRange)
	}
	resp, err := client.Do(req)
	if err != nil {
		return davAnswer{}, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	var body []byte
	if resp.StatusCode == http.StatusOK && midBody != nil && resp.ContentLength > 0 {
		body = make([]byte, resp.ContentLength/2)
		if _, err = io.ReadFull(resp.Body, body); err == nil {
			midBody()
			var rest []byte
			rest, err = io.ReadAll(resp.Body)
			body = append(body, rest...)
		}
	} else {
		body, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		return davAnswer{}, fmt.Errorf("%s: %s, body cut after %d bytes: %w", what, resp.Status, len(body), err)
	}
	a := davAnswer{status: resp.StatusCode, etag: resp.Header.Get("ETag"), n: int64(len(body))}
	bySize := func(size int64) (testorigin.Content, error) {
		for _, c := range contents {
			if c.Size == size {
				return c, nil
			}
		}
		return testorigin.Content{}, fmt.Errorf("%s: %s names a %d-byte file: neither file's size", what, resp.Status, size)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return a, nil
	case http.StatusRequestedRangeNotSatisfiable:
		size, err := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Content-Range"), "bytes */"), 10, 64)
		if err != nil {
			return a, fmt.Errorf("%s: 416 with Content-Range %q", what, resp.Header.Get("Content-Range"))
		}
		if a.c, err = bySize(size); err != nil {
			return a, err
		}
		if off < size {
			return a, fmt.Errorf("%s: 416, but the %d-byte file holds that range", what, size)
		}
		return a, nil
	case http.StatusOK:
		if a.c, err = bySize(resp.ContentLength); err != nil {
			return a, err
		}
		if ifRange == "" && n > 0 {
			return a, fmt.Errorf("%s: 200 to a range within the file", what)
		}
		if want := a.c.Bytes(0, a.c.Size); !bytes.Equal(body, want) {
			return a, fmt.Errorf("%s: 200 of %d bytes, %d of them not the %d-byte file's", what, len(body), diffCount(body, want), a.c.Size)
		}
		return a, nil
	case http.StatusPartialContent:
		var first, last, size int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &size); err != nil {
			return a, fmt.Errorf("%s: 206 with Content-Range %q: %w", what, resp.Header.Get("Content-Range"), err)
		}
		if a.c, err = bySize(size); err != nil {
			return a, err
		}
		if first != off || last != min(off+n, size)-1 {
			return a, fmt.Errorf("%s: 206 of bytes %d-%d/%d", what, first, last, size)
		}
		if want := a.c.Bytes(first, last-first+1); !bytes.Equal(body, want) {
			return a, fmt.Errorf("%s: 206 of %d bytes (want %d), %d of them not the %d-byte file's", what, len(body), len(want), diffCount(body, want), size)
		}
		return a, nil
	default:
		return a, fmt.Errorf("%s: %s: %s", what, resp.Status, bytes.TrimSpace(body))
	}
}

// roundEnds tells readers of a name when the staging they may have opened
// is gone: current's channel is closed by the next unstage.
type roundEnds struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed by next, then replaced
}

func newRoundEnds() *roundEnds { return &roundEnds{ch: make(chan struct{})} }

func (r *roundEnds) current() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ch
}

// next ends the round: called after each unstage.
func (r *roundEnds) next() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.ch)
	r.ch = make(chan struct{})
}
