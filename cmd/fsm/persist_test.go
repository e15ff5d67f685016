package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fsm/control/api"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/state"
)

// The tests here run the real binary twice on one cache dir: what the
// first run staged and downloaded is what the second lists and serves.

const persistToken = "persist-test-token"

// persistServe starts `fsm serve` on cache (persistent by default) with a
// known token.
func persistServe(t *testing.T, cache string, args ...string) *server {
	t.Helper()
	return startServe(t, []string{"FSM_CACHE_DIR=" + cache, "FSM_TOKEN=" + persistToken}, args...)
}

// files lists the server's entries.
func (s *server) files(t *testing.T) []api.File {
	t.Helper()
	code, body := apiCall(t, http.MethodGet, s.url+strings.TrimPrefix(api.Base, "/")+api.PathFiles, persistToken, nil)
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var out []api.File
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// file is the entry listed as name, failing the test if there is none.
func (s *server) file(t *testing.T, name string) api.File {
	t.Helper()
	var found []api.File
	for _, f := range s.files(t) {
		if f.Name == name {
			found = append(found, f)
		}
	}
	for _, f := range found {
		if f.Size != nil { // the staged file, not a failed source listed under its name
			return f
		}
	}
	if len(found) > 0 {
		return found[0]
	}
	t.Fatalf("%s is not listed: %+v\n%s", name, s.files(t), s.log)
	return api.File{}
}

// kill ends the server with SIGKILL: nothing of its shutdown runs.
func (s *server) kill(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("fsm did not die of SIGKILL")
	}
}

// saved reads the state file and returns each file's durable byte count.
func saved(t *testing.T, cache string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cache, state.FileName))
	if err != nil {
		return nil
	}
	var doc struct{ Files []state.File }
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil // being replaced: never half-written, but a test may read between rename and nothing
	}
	out := make(map[string]int64)
	for _, f := range doc.Files {
		var n int64
		for _, r := range f.Ranges {
			n += r[1] - r[0]
		}
		out[f.Name] = n
	}
	return out
}

// servedSince sums the body bytes the origin sent for requests that began
// at or after since.
func servedSince(o *testorigin.Origin, since time.Time) (n int64, reqs []testorigin.Request) {
	for _, r := range o.Requests() {
		if !r.Time.Before(since) {
			n += r.BytesSent
			reqs = append(reqs, r)
		}
	}
	return n, reqs
}

// A download stopped by SIGTERM or SIGKILL resumes after a restart on the
// same cache dir: the same file is listed, the bytes already there are
// kept, and the origin is asked only for (about) the missing ones; the
// whole file then reads byte for byte.
func TestPersistResumesAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(t *testing.T, s *server, cache string)
	}{
		{"SIGTERM", func(t *testing.T, s *server, cache string) {
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d after SIGTERM:\n%s", code, s.log)
			}
		}},
		{"SIGKILL", func(t *testing.T, s *server, cache string) {
			// Killed once a batch is on record: what the state file says
			// then is what the next run may count on.
			fsmtest.Eventually(t, "a batch of ranges in the state file", func() bool { return saved(t, cache)["file.bin"] >= 2<<20 })
			s.kill(t)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 31, Size: 32 << 20}
			o := testorigin.New(t, testorigin.Options{Content: c, SharedBytesPerSecond: 4 << 20})
			cache := t.TempDir()
			s := persistServe(t, cache, o.URL())
			s.waitState(t, "file.bin", "idle")
			// A read starts the background fill of the whole file.
			if resp, body := get(t, s.url+"file.bin", "Range", "bytes=0-65535"); resp.StatusCode != 206 || !bytes.Equal(body, c.Bytes(0, 65536)) {
				t.Fatalf("range GET: %s", resp.Status)
			}
			fsmtest.Eventually(t, "4 MiB downloaded", func() bool { return s.file(t, "file.bin").Downloaded >= 4<<20 })
			tc.stop(t, s, cache)

			kept := saved(t, cache)["file.bin"]
			if kept < 2<<20 || kept >= c.Size {
				t.Fatalf("state file records %d bytes of file.bin; want a part of %d", kept, c.Size)
			}
			restart := time.Now()
			s2 := persistServe(t, cache) // no SOURCE: the state alone brings it back
			if f := s2.file(t, "file.bin"); f.Size == nil || *f.Size != c.Size || f.Downloaded < kept {
				t.Fatalf("after restart: %+v; want size %d with at least %d bytes kept", f, c.Size, kept)
			}
			resp, body := get(t, s2.url+"file.bin")
			if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
				t.Fatalf("GET after restart: %s, %d bytes, equal %v", resp.Status, len(body), bytes.Equal(body, c.Bytes(0, c.Size)))
			}
			missing := c.Size - kept
			got, reqs := servedSince(o, restart)
			if got < missing || got > missing+256<<10 {
				t.Errorf("origin sent %d bytes after the restart; %d were missing", got, missing)
			}
			_, etag, _ := o.Version()
			for _, r := range reqs {
				if r.Method == http.MethodHead || (r.Range != "" && r.IfRange != etag) {
					t.Errorf("request after restart %s Range %q If-Range %q; want no probe and If-Range %s", r.Method, r.Range, r.IfRange, etag)
				}
			}
			if names := s2.files(t); len(names) != 1 {
				t.Errorf("listed after restart: %+v; want file.bin alone", names)
			}
			if code := s2.stop(t); code != 0 {
				t.Fatalf("exit %d:\n%s", code, s2.log)
			}
			if runs, _ := filepath.Glob(filepath.Join(cache, "run-*")); len(runs) != 0 {
				t.Errorf("run folders in a persistent cache dir: %v", runs)
			}
		})
	}
}

// A file that changed at the origin while fsm was down fails as changed
// after the restart: the first fetch carries the stored validator, and
// none of the new version's bytes are served mixed with the old.
func TestPersistOriginChangedWhileDown(t *testing.T) {
	c := testorigin.Content{Seed: 32, Size: 8 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c, SharedBytesPerSecond: 2 << 20})
	cache := t.TempDir()
	s := persistServe(t, cache, o.URL())
	s.waitState(t, "file.bin", "idle")
	get(t, s.url+"file.bin", "Range", "bytes=0-65535")
	fsmtest.Eventually(t, "1 MiB downloaded", func() bool { return s.file(t, "file.bin").Downloaded >= 1<<20 })
	_, oldETag, _ := o.Version()
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}
	o.Change()
	restart := time.Now()

	s2 := persistServe(t, cache)
	failed := s2.waitState(t, "file.bin", "failed")
	if msg, _ := failed["error"].(string); !strings.Contains(msg, "changed") {
		t.Errorf("error %q does not say the file changed", msg)
	}
	if resp, body := get(t, s2.url+"file.bin"); resp.StatusCode == 200 || bytes.Contains(body, c.Bytes(0, 4096)) {
		t.Errorf("GET of a changed file: %s with %d bytes; want a failure without content", resp.Status, len(body))
	}
	_, reqs := servedSince(o, restart)
	if len(reqs) == 0 || reqs[0].IfRange != oldETag {
		t.Errorf("first request after restart: %+v; want If-Range %s", reqs, oldETag)
	}
	// Still failed after another restart: the state says so.
	s2.stop(t)
	s3 := persistServe(t, cache)
	if f := s3.file(t, "file.bin"); f.State != "failed" {
		t.Errorf("after a second restart: %+v; want failed", f)
	}
}

// Files staged at run time through the API persist like SOURCEs: after a
// SIGKILL they come back, complete ones are served from the temp file with
// no origin request, and the header values are in the 0600 state file
// only, never in a log.
func TestPersistRuntimeStaged(t *testing.T) {
	c := testorigin.Content{Seed: 33, Size: 3<<20 + 5}
	o := testorigin.New(t, testorigin.Options{Content: c})
	cache := filepath.Join(t.TempDir(), "cache") // made by fsm
	s := persistServe(t, cache)
	secret := "Bearer very-secret-origin-token"
	code, body := apiCall(t, http.MethodPost, s.url+strings.TrimPrefix(api.Base, "/")+api.PathFiles, persistToken,
		api.StageRequest{URL: o.URL(), Name: "dir/run.bin", Headers: map[string]string{"Authorization": secret}})
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("stage: %d %s", code, body)
	}
	resp, body := get(t, s.url+"dir/run.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET: %s", resp.Status)
	}
	etag, mtime := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	// One staged and unstaged at run time is forgotten as well.
	apiCall(t, http.MethodPost, s.url+strings.TrimPrefix(api.Base, "/")+api.PathFiles, persistToken, api.StageRequest{URL: o.URL(), Name: "gone.bin"})
	fsmtest.Eventually(t, "gone.bin on record", func() bool { _, ok := saved(t, cache)["gone.bin"]; return ok })
	if code, body := apiCall(t, http.MethodDelete, s.url+strings.TrimPrefix(api.Base, "/")+api.FilePath("gone.bin"), persistToken, nil); code/100 != 2 {
		t.Fatalf("unstage: %d %s", code, body)
	}
	fsmtest.Eventually(t, "the whole file on record, the unstaged one gone", func() bool {
		got := saved(t, cache)
		_, gone := got["gone.bin"]
		return got["dir/run.bin"] == c.Size && !gone
	})
	s.kill(t)

	restart := time.Now()
	s2 := persistServe(t, cache)
	f := s2.file(t, "dir/run.bin")
	if f.State != "complete" || len(f.Headers) != 1 || f.Headers[0] != "Authorization" {
		t.Fatalf("after restart: %+v; want complete with header Authorization", f)
	}
	resp, body = get(t, s2.url+"dir/run.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET after restart: %s", resp.Status)
	}
	if resp.Header.Get("ETag") != etag || resp.Header.Get("Last-Modified") != mtime {
		t.Errorf("after restart ETag %s, Last-Modified %s; before %s, %s", resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), etag, mtime)
	}
	if n := len(s2.files(t)); n != 1 {
		t.Errorf("%d files after restart, want dir/run.bin alone: %+v", n, s2.files(t))
	}
	if _, reqs := servedSince(o, restart); len(reqs) != 0 {
		t.Errorf("origin asked %d times for a complete file after the restart: %+v", len(reqs), reqs)
	}
	// A fetch after the restart still sends the header: unstage and the
	// origin sees no more, so check the state file instead.
	info, err := os.Stat(filepath.Join(cache, state.FileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	if info, err := os.Stat(cache); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v, %v; want 0700", info.Mode().Perm(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(cache, state.FileName)); !bytes.Contains(b, []byte(secret)) {
		t.Errorf("state file does not keep the header value")
	}
	s2.stop(t)
	for _, log := range []string{s.log.String(), s2.log.String()} {
		if strings.Contains(log, "very-secret") {
			t.Errorf("a header value is in the log:\n%s", log)
		}
	}
}

// A damaged state file, or one from another version, is set aside with a
// warning; fsm starts without staged files and writes a new one.
func TestPersistDamagedStateSetAside(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"garbage", "{\"version\": 1, \"files\": [ {\"name\": "},
		{"future version", `{"version": 99, "files": []}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			os.Chmod(cache, 0o700)
			if err := os.WriteFile(filepath.Join(cache, state.FileName), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s := persistServe(t, cache)
			if n := len(s.files(t)); n != 0 {
				t.Errorf("%d files listed from a damaged state", n)
			}
			if !strings.Contains(s.log.String(), "set aside") {
				t.Errorf("no warning about the state file:\n%s", s.log)
			}
			aside, _ := filepath.Glob(filepath.Join(cache, state.FileName+".bad-*"))
			if len(aside) != 1 {
				t.Fatalf("set-aside files: %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != tc.content {
				t.Errorf("set-aside content %q, want the original", b)
			}
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d:\n%s", code, s.log)
			}
		})
	}
}

// A second fsm serve on a cache dir another one owns says which process
// holds it and exits 1; with --persist=false it may share the dir.
func TestPersistSecondServeRefused(t *testing.T) {
	cache := t.TempDir()
	s := persistServe(t, cache)
	code, stderr := run(t, hermeticEnv(t, "FSM_CACHE_DIR="+cache), "serve", "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "pid "+strconv.Itoa(s.cmd.Process.Pid)) {
		t.Errorf("second serve: exit %d, stderr:\n%s\nwant exit 1 naming pid %d", code, stderr, s.cmd.Process.Pid)
	}
	other := persistServe(t, cache, "--persist=false")
	if code := other.stop(t); code != 0 {
		t.Errorf("--persist=false beside a persistent fsm: exit %d:\n%s", code, other.log)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}
}

// SOURCEs: NAME=URL names one, --header goes with them, the first wins a
// clash whichever probe answers first (the loser is listed failed with its
// URL), and on a restart a SOURCE already restored under its name and URL
// is no error while the same name from another URL is listed failed.
func TestServeSources(t *testing.T) {
	c := testorigin.Content{Seed: 34, Size: 4096}
	slow := testorigin.New(t, testorigin.Options{Content: c, Name: "/a/same.bin", FirstByteDelay: 700 * time.Millisecond})
	fast := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 35, Size: 100}, Name: "/b/same.bin"})
	// The slow origin's real name is only told by its probe.
	told := testorigin.New(t, testorigin.Options{Content: c, Name: "/told", ContentDisposition: `attachment; filename="told.bin"`, FirstByteDelay: 700 * time.Millisecond})
	plain := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 36, Size: 100}, Name: "/told.bin"})
	named := testorigin.New(t, testorigin.Options{Content: c, Name: "/x"})
	cache := t.TempDir()
	args := []string{"--header", "X-Origin-Key: k1", slow.URL(), fast.URL(), told.URL(), plain.URL(), "named.bin=" + named.URL()}
	s := persistServe(t, cache, args...)
	s.waitState(t, "named.bin", "idle")
	var last []api.File
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last listing: %+v\nlog:\n%s", last, s.log)
		}
	})
	fsmtest.Eventually(t, "every source staged or failed", func() bool {
		n := 0
		last = s.files(t)
		for _, f := range last {
			if f.State != "probing" {
				n++
			}
		}
		return n == 5
	})
	byURL := func(list []api.File) map[string]api.File {
		m := make(map[string]api.File)
		for _, f := range list {
			m[f.URL] = f
		}
		return m
	}
	got := byURL(s.files(t))
	for _, want := range []struct {
		o     *testorigin.Origin
		name  string
		state string
	}{
		{slow, "same.bin", "idle"}, {fast, "same.bin", "failed"},
		{told, "told.bin", "idle"}, {plain, "told.bin", "failed"},
		{named, "named.bin", "idle"},
	} {
		f, ok := got[want.o.URL()]
		if !ok || f.Name != want.name || f.State != want.state {
			t.Errorf("%s: listed %+v; want %s %s", want.o.URL(), f, want.name, want.state)
		}
	}
	if f := got[fast.URL()]; !strings.Contains(f.Error, "same.bin") {
		t.Errorf("the loser's error %q does not name the name", f.Error)
	}
	for _, r := range named.Requests() {
		if r.Header.Get("X-Origin-Key") != "k1" {
			t.Errorf("request without --header: %+v", r.Header)
		}
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}

	// Restart with the same SOURCEs, and one name from another URL.
	other := testorigin.New(t, testorigin.Options{Content: c, Name: "/other"})
	s2 := persistServe(t, cache, slow.URL(), "named.bin="+named.URL(), "same.bin="+other.URL())
	fsmtest.Eventually(t, "the clash listed", func() bool {
		_, ok := byURL(s2.files(t))[other.URL()]
		return ok
	})
	got = byURL(s2.files(t))
	if f := got[other.URL()]; f.State != "failed" || !strings.Contains(f.Error, "another URL") {
		t.Errorf("same name, other URL: %+v; want failed saying another URL", f)
	}
	for _, o := range []*testorigin.Origin{slow, named} {
		if f := got[o.URL()]; f.State == "failed" {
			t.Errorf("restored SOURCE given again listed failed: %+v", f)
		}
	}
	if !strings.Contains(s2.log.String(), "restored") {
		t.Errorf("no restore logged:\n%s", s2.log)
	}
	s2.stop(t)
}
