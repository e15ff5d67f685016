package webdav

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

// A GET whose bytes stop coming ends within Options.StallTimeout of no
// progress, far below the store's own retry budget (StallTimeout 30 s per
// attempt, several attempts): before the first byte as a 504 that says why,
// later as an aborted response. The client's timeout only turns a hang into
// a failure.

func TestStallBeforeFirstByte(t *testing.T) {
	e := newEnv(t, envOptions{stall: 300 * time.Millisecond, track: true})
	release := e.origin.Block()
	defer release()
	client := e.srv.Client()
	client.Timeout = 20 * time.Second
	for _, rng := range []string{"", "bytes=2000000-"} {
		req, _ := http.NewRequest("GET", e.url("/movie.mp4"), nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET (Range %q) against a stalled origin: %v", rng, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("GET (Range %q) against a stalled origin: %s %s, want 504", rng, resp.Status, body)
		}
		if !bytes.Contains(body, []byte("movie.mp4")) || !bytes.Contains(body, []byte("no bytes")) || bytes.Count(body, []byte("\n")) != 1 {
			t.Errorf("504 body is not one line saying why: %q", body)
		}
		if resp.Header.Get("Content-Range") != "" || resp.Header.Get("ETag") != "" {
			t.Errorf("504 carries file headers: %v", resp.Header)
		}
		if got := <-e.exits; got != "GET /movie.mp4" {
			t.Fatalf("unexpected handler exit %q", got)
		}
	}
	if h := e.file("movie.mp4").Progress().Handles; h != 0 {
		t.Errorf("handles = %d after the 504s", h)
	}
	if !strings.Contains(e.logs.String(), "status=504") {
		t.Errorf("504 not logged")
	}
	// The download itself carries on once the origin sends again. Read it
	// through the tree, not a GET: the retry's backoff may well exceed this
	// test's 300 ms stall bound, which would cut a GET by design.
	release()
	h, err := e.fs.Open("movie.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := make([]byte, e.content.Size)
	if n, err := h.ReadAt(ctx, body, 0); int64(n) != e.content.Size || !bytes.Equal(body, e.content.Bytes(0, e.content.Size)) {
		t.Fatalf("after the origin recovered: %d bytes, %v", n, err)
	}
}

func TestStallMidStream(t *testing.T) {
	e := newEnv(t, envOptions{
		stall:  2 * time.Second,
		origin: testorigin.Options{Content: testorigin.Content{Seed: 5, Size: 8 << 20}, BytesPerSecond: 1 << 20},
		store:  store.Options{ChunkSize: 64 << 10, DemandChunk: 64 << 10, NearWindow: 64 << 10, Connections: 1, MaxFetchers: 1},
	})
	client := e.srv.Client()
	client.Timeout = 30 * time.Second
	resp, err := client.Get(e.url("/movie.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %s", resp.Status)
	}
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	// Every origin request from now on sends its headers and then nothing.
	release := e.origin.Block()
	defer release()
	rest, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("GET ended cleanly after %d of %d bytes; want a broken response", len(first)+len(rest), e.content.Size)
	}
	got := append(first, rest...)
	if int64(len(got)) >= e.content.Size {
		t.Fatalf("got the whole file and an error: %v", err)
	}
	if !bytes.Equal(got, e.content.Bytes(0, int64(len(got)))) {
		t.Errorf("bytes before the abort are wrong")
	}
	fsmtest.Eventually(t, "the abort to be logged", func() bool {
		return strings.Contains(e.logs.String(), "GET aborted mid-stream")
	})
	if logs := e.logs.String(); !strings.Contains(logs, "no bytes of movie.mp4 arrived") {
		t.Errorf("abort logged without its reason:\n%s", logs)
	}
	if e.origin.Waiting() == 0 {
		t.Errorf("no origin request was held: the stall was not the origin's")
	}
}

// TestChangedOrigin: a file that changed at its origin since staging is a
// 502 that says to stage it again, before any byte was sent.
func TestChangedOrigin(t *testing.T) {
	e := newEnv(t, envOptions{
		origin: testorigin.Options{ChangeAfter: 64 << 10},
		store:  store.Options{ChunkSize: 64 << 10, DemandChunk: 64 << 10, NearWindow: 64 << 10, Connections: 1, MaxFetchers: 1},
	})
	resp, body := e.do("GET", "/movie.mp4", map[string]string{"Range": "bytes=0-99"}, "")
	if resp.StatusCode != 206 || !bytes.Equal(body, e.content.Bytes(0, 100)) {
		t.Fatalf("first read, before the change: %s", resp.Status)
	}
	resp, body = e.do("GET", "/movie.mp4", map[string]string{"Range": "bytes=2000000-2000099"}, "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("read after the origin changed: %s %q, want 502", resp.Status, body)
	}
	if !bytes.Contains(body, []byte("stage it again")) {
		t.Errorf("502 body does not say what to do: %q", body)
	}
}

// TestErrorsHideSecrets: a signed URL's query never reaches a client or the
// log through a read error (502 or 504).
func TestErrorsHideSecrets(t *testing.T) {
	const secret = "X-Amz-Signature=sEcReT"
	for _, stall := range []bool{false, true} {
		o := envOptions{stall: 300 * time.Millisecond}
		if !stall {
			o.origin = testorigin.Options{FailCount: 1 << 20, FailStatus: http.StatusForbidden}
		}
		e := newEnv(t, o)
		if _, err := e.fs.Stage(context.Background(), vfs.Request{URL: e.origin.URL() + "?" + secret, Name: "signed.bin"}); err != nil {
			t.Fatal(err)
		}
		if stall {
			defer e.origin.Block()()
		}
		resp, body := e.do("GET", "/signed.bin", nil, "")
		want := http.StatusBadGateway
		if stall {
			want = http.StatusGatewayTimeout
		}
		if resp.StatusCode != want {
			t.Fatalf("stall %v: %s %q, want %d", stall, resp.Status, body, want)
		}
		if bytes.Contains(body, []byte("sEcReT")) {
			t.Errorf("answer shows the URL's secret: %q", body)
		}
		if strings.Contains(e.logs.String(), "sEcReT") {
			t.Errorf("log shows the URL's secret:\n%s", e.logs.String())
		}
	}
}
