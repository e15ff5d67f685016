package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"fsm/control/api"
	"fsm/vfs"
)

const filesPath = api.Base + api.PathFiles

func (e *folderEnv) stageFolder(t *testing.T, body string) (int, api.File, api.Error) {
	t.Helper()
	code, _, b := e.do(t, call{method: "POST", path: filesPath, body: body})
	var o api.File
	var ae api.Error
	if code < 300 {
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
	} else if err := json.Unmarshal(b, &ae); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return code, o, ae
}

func (e *folderEnv) list(t *testing.T) []api.File {
	t.Helper()
	code, _, b := e.do(t, call{method: "GET", path: filesPath})
	var out []api.File
	if code != http.StatusOK || json.Unmarshal(b, &out) != nil {
		t.Fatalf("GET files: %d %s", code, b)
	}
	return out
}

// entryStates is "name=state" per entry of a folder object, in order.
func entryStates(o api.File) string {
	var parts []string
	for _, e := range o.Entries {
		parts = append(parts, e.Name+"="+e.State)
	}
	return strings.Join(parts, " ")
}

func (e *folderEnv) webdavGet(t *testing.T, name string) (int, string) {
	t.Helper()
	elems := strings.Split(name, "/")
	for i, el := range elems {
		elems[i] = strings.ReplaceAll(urlEscape(el), "+", "%20")
	}
	resp, err := http.Get(e.srv.URL + "/" + strings.Join(elems, "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func urlEscape(s string) string { return strings.TrimPrefix(api.FilePath(s), api.PathFiles+"/") }

// TestStageFolder stages an Apache-style folder with a sub-folder, escaped
// names, spaces and unicode through the API, lists it as one object with
// its entries, reads an entry over WebDAV, and refuses a plain unstage of
// the folder.
func TestStageFolder(t *testing.T) {
	o := newDirOrigin(t, map[string]string{
		"/pub/a.bin":                   "alpha",
		"/pub/my file.txt":             "spaced",
		"/pub/sub dir/ünï ✓.txt":       "unicode",
		"/pub/sub dir/deeper/x#1?.bin": "escaped",
		"/pubx/beside.bin":             "not under /pub/",
	})
	o.extra["/pub/"] = []string{"a%2Fb.txt", "._junk", "/pubx/beside.bin"}
	e := newFolderEnv(t)

	code, obj, ae := e.stageFolder(t, `{"url":"`+o.srv.URL+`/pub/","folder":true}`)
	if code != http.StatusCreated || !obj.Folder || obj.Name != "pub" || obj.Files != 6 {
		t.Fatalf("stage: %d %+v %+v", code, obj, ae)
	}
	e.waitQueue(t)
	ls := e.list(t)
	if len(ls) != 1 || !ls[0].Folder {
		t.Fatalf("GET files: %+v", ls)
	}
	f := ls[0]
	want := "pub/._junk=failed pub/a%2Fb.txt=failed pub/a.bin=idle pub/my file.txt=idle pub/sub dir/deeper/x#1?.bin=idle pub/sub dir/ünï ✓.txt=idle"
	// The failed ones are listed under their names as the index gives them.
	if got := entryStates(f); got != want {
		t.Errorf("entries\n got %s\nwant %s", got, want)
	}
	if f.Files != 6 || f.Failed != 2 || f.Size == nil || *f.Size != int64(len("alpha")+len("spaced")+len("unicode")+len("escaped")) || f.State != "staged" {
		t.Errorf("folder sums: files %d failed %d size %v state %s", f.Files, f.Failed, f.Size, f.State)
	}
	for _, en := range f.Entries {
		if en.State == "failed" && !strings.Contains(en.Error, "holds a /") && !strings.Contains(en.Error, "desktop clients probe") {
			t.Errorf("%s failed without its reason: %q", en.Name, en.Error)
		}
	}
	if code, body := e.webdavGet(t, "pub/sub dir/ünï ✓.txt"); code != http.StatusOK || body != "unicode" {
		t.Errorf("WebDAV GET: %d %q", code, body)
	}
	if code, body := e.webdavGet(t, "pub/sub dir/deeper/x#1?.bin"); code != http.StatusOK || body != "escaped" {
		t.Errorf("WebDAV GET of an escaped name: %d %q", code, body)
	}
	// One entry reads as a file staged alone, by its full name.
	code, _, b := e.do(t, call{method: "GET", path: filesPath + "/" + urlEscape("pub/my file.txt")})
	if code != http.StatusOK || !strings.Contains(string(b), `"state":"idle"`) {
		t.Errorf("GET one entry: %d %s", code, b)
	}
	// A single file may not move into the folder's names.
	code, _, b = e.do(t, call{method: "POST", path: filesPath, body: `{"url":"` + o.srv.URL + `/pub/a.bin","name":"pub/extra.bin"}`})
	if code != http.StatusConflict || !strings.Contains(string(b), "inside staged folder") {
		t.Errorf("stage into the folder: %d %s", code, b)
	}
	code, _, b = e.do(t, call{method: "DELETE", path: filesPath + "/pub"})
	if code != http.StatusConflict || !strings.Contains(string(b), `"code":"is_folder"`) {
		t.Errorf("plain unstage of the folder: %d %s", code, b)
	}
	pages, heads, _ := o.counts()
	if pages != 3 { // pub/, sub dir/, deeper/
		t.Errorf("index pages read: %d, want 3", pages)
	}
	if heads["/pubx/beside.bin"] != 0 {
		t.Errorf("a file beside the folder was requested")
	}
}

// TestStageFolderErrors: a page that is not HTML, or that links nothing
// under it, is a not_index refusal naming the URL; nothing is staged.
func TestStageFolderErrors(t *testing.T) {
	o := newDirOrigin(t, map[string]string{"/pub/a.bin": "alpha"})
	o.extra["/empty/"] = []string{"../", "?C=N;O=D", "https://elsewhere.example/"}
	e := newFolderEnv(t)
	tests := []struct {
		url, code, says string
		status          int
	}{
		{o.srv.URL + "/pub/a.bin", "not_index", "index " + o.srv.URL + "/pub/a.bin: not an HTML page", http.StatusBadRequest},
		{o.srv.URL + "/empty/", "not_index", "index " + o.srv.URL + "/empty/: links to nothing under it", http.StatusBadRequest},
		{o.srv.URL + "/none/", "origin_failed", "index " + o.srv.URL + "/none/: HTTP 404", http.StatusBadGateway},
		{o.srv.URL + "/", "no_name", "give a name", http.StatusBadRequest},
	}
	for _, tc := range tests {
		status, _, ae := e.stageFolder(t, `{"url":"`+tc.url+`","folder":true}`)
		if status != tc.status || string(ae.Code) != tc.code || !strings.Contains(ae.Error, tc.says) {
			t.Errorf("%s: %d %+v, want %d %s %q", tc.url, status, ae, tc.status, tc.code, tc.says)
		}
	}
	if ls := e.list(t); len(ls) != 0 {
		t.Errorf("listed after refusals: %+v", ls)
	}
	// A failed listing leaves the name free.
	if status, obj, ae := e.stageFolder(t, `{"url":"`+o.srv.URL+`/pub/","folder":true,"name":"empty"}`); status != http.StatusCreated || obj.Name != "empty" {
		t.Errorf("stage after refusals: %d %+v", status, ae)
	}
}

// TestRefreshFolder stages a folder, then the origin adds one file and
// removes two, one of which is open: staging the folder again adds the new
// file, removes the closed one at once and the open one at its Close.
func TestRefreshFolder(t *testing.T) {
	o := newDirOrigin(t, map[string]string{"/pub/keep.bin": "keep", "/pub/open.bin": "open", "/pub/gone.bin": "gone"})
	e := newFolderEnv(t)
	body := `{"url":"` + o.srv.URL + `/pub/","folder":true}`
	if code, obj, ae := e.stageFolder(t, body); code != http.StatusCreated {
		t.Fatalf("stage: %d %+v %+v", code, obj, ae)
	}
	e.waitQueue(t)
	h, err := e.fsys.Open("pub/open.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	o.remove("/pub/open.bin")
	o.remove("/pub/gone.bin")
	o.set("/pub/new.bin", "new")
	code, obj, ae := e.stageFolder(t, body)
	if code != http.StatusOK || obj.Name != "pub" {
		t.Fatalf("refresh: %d %+v %+v", code, obj, ae)
	}
	e.waitQueue(t)
	ls := e.list(t)
	if len(ls) != 1 {
		t.Fatalf("GET files: %+v", ls)
	}
	if got, want := entryStates(ls[0]), "pub/keep.bin=idle pub/new.bin=idle pub/open.bin=idle"; got != want {
		t.Errorf("after refresh\n got %s\nwant %s", got, want)
	}
	if code, body := e.webdavGet(t, "pub/new.bin"); code != http.StatusOK || body != "new" {
		t.Errorf("WebDAV GET new.bin: %d %q", code, body)
	}
	if code, _ := e.webdavGet(t, "pub/gone.bin"); code != http.StatusNotFound {
		t.Errorf("WebDAV GET gone.bin: %d, want 404", code)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := entryStates(e.list(t)[0]), "pub/keep.bin=idle pub/new.bin=complete"; got != want {
		t.Errorf("after the last Close\n got %s\nwant %s", got, want)
	}
	// Another URL under the folder's name is refused, not a refresh.
	status, _, ae := e.stageFolder(t, `{"url":"`+o.srv.URL+`/other/","folder":true,"name":"pub"}`)
	if status != http.StatusConflict || ae.Code != api.CodeNameTaken {
		t.Errorf("another URL under the name: %d %+v", status, ae)
	}
}

// TestUnstageFolderOpenHandle: unstage recursive removes the folder and its
// files at once; a handle open on one keeps reading it.
func TestUnstageFolderOpenHandle(t *testing.T) {
	o := newDirOrigin(t, map[string]string{"/media/a.bin": "first file", "/media/sub/b.bin": "second"})
	e := newFolderEnv(t)
	if code, obj, ae := e.stageFolder(t, `{"url":"`+o.srv.URL+`/media/","folder":true,"name":"m"}`); code != http.StatusCreated || obj.Files != 2 {
		t.Fatalf("stage: %d %+v %+v", code, obj, ae)
	}
	e.waitQueue(t)
	h, err := e.fsys.Open("m/sub/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	code, _, b := e.do(t, call{method: "DELETE", path: filesPath + "/m?recursive=true"})
	if code != http.StatusNoContent {
		t.Fatalf("unstage -r: %d %s", code, b)
	}
	if ls := e.list(t); len(ls) != 0 {
		t.Errorf("listed after unstage -r: %+v", ls)
	}
	if code, _ := e.webdavGet(t, "m/a.bin"); code != http.StatusNotFound {
		t.Errorf("WebDAV GET after unstage: %d", code)
	}
	buf := make([]byte, 6)
	if n, err := h.ReadAt(context.Background(), buf, 0); n != 6 || string(buf) != "second" {
		t.Errorf("open handle after unstage: %d %q %v", n, buf, err)
	}
	// The name is free again.
	if code, _, _ := e.stageFolder(t, `{"url":"`+o.srv.URL+`/media/","folder":true,"name":"m"}`); code != http.StatusCreated {
		t.Errorf("stage again after unstage -r: %d", code)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestFolderOfManyFiles stages a 5,000-file index and lists it within the
// bounds the many-files benchmark checks, by counting work: one index page,
// one request per file, never more than the staging queue's probes at
// once, no descriptor held per file, little memory per file, and one GET
// files answer holding them all.
func TestFolderOfManyFiles(t *testing.T) {
	const n = 5000
	files := make(map[string]string, n)
	for i := range n {
		files[fmtName(i)] = "x"
	}
	o := newDirOrigin(t, files)
	e := newFolderEnv(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	fds := openFDs(t)
	code, obj, ae := e.stageFolder(t, `{"url":"`+o.srv.URL+`/many/","folder":true}`)
	if code != http.StatusCreated || obj.Files != n {
		t.Fatalf("stage: %d files %d %+v", code, obj.Files, ae)
	}
	e.waitQueue(t)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per staged folder file", per)
	if per > 8<<10 {
		t.Errorf("%d bytes of heap per staged folder file, want at most 8 KiB", per)
	}
	// Idle connections to the origin and from the test client, at most
	// one per probe running at once, each end in this process.
	if got := openFDs(t); got > fds+4*vfs.StagingConcurrency {
		t.Errorf("%d files staged hold %d more descriptors", n, got-fds)
	}
	pages, heads, maxIn := o.counts()
	if pages != 1 {
		t.Errorf("%d index pages read, want 1", pages)
	}
	if len(heads) != n {
		t.Errorf("%d files requested, want %d", len(heads), n)
	}
	for p, c := range heads {
		if c != 1 {
			t.Errorf("%s requested %d times, want once (its probe)", p, c)
			break
		}
	}
	if maxIn > vfs.StagingConcurrency {
		t.Errorf("%d probes at once, want at most %d", maxIn, vfs.StagingConcurrency)
	}
	ls := e.list(t)
	if len(ls) != 1 || len(ls[0].Entries) != n || ls[0].Failed != 0 || ls[0].State != "staged" || *ls[0].Size != n {
		t.Fatalf("GET files: %d objects, first with %d entries", len(ls), len(ls[0].Entries))
	}
	if got := len(e.fsys.Files()); got != n {
		t.Errorf("%d files in the tree, want %d", got, n)
	}
}

func fmtName(i int) string { return fmt.Sprintf("/many/f%05d.bin", i) }

// A folder's request headers go with its index pages and with every
// file's requests; listings show their names only.
func TestFolderHeaders(t *testing.T) {
	o := newDirOrigin(t, map[string]string{"/pub/a.bin": "alpha", "/pub/sub/b.bin": "bravo"})
	e := newFolderEnv(t)
	code, obj, ae := e.stageFolder(t, `{"url":"`+o.srv.URL+`/pub/","folder":true,"headers":{"Authorization":"Bearer s3cr3t"}}`)
	if code != http.StatusCreated {
		t.Fatalf("stage: %d %+v", code, ae)
	}
	e.waitQueue(t)
	if code, body := e.webdavGet(t, "pub/sub/b.bin"); code != http.StatusOK || body != "bravo" {
		t.Errorf("WebDAV GET: %d %q", code, body)
	}
	o.mu.Lock()
	auth := maps(o.auth)
	o.mu.Unlock()
	if len(auth) != 1 || auth["Bearer s3cr3t"] == 0 {
		t.Errorf("origin requests by Authorization: %v, want all with the folder's", auth)
	}
	_, _, b := e.do(t, call{method: "GET", path: filesPath})
	if strings.Contains(string(b), "s3cr3t") || !strings.Contains(string(b), `"headers":["Authorization"]`) {
		t.Errorf("listing: %s", b)
	}
	if len(obj.Headers) != 1 || obj.Headers[0] != "Authorization" {
		t.Errorf("folder headers: %v", obj.Headers)
	}
}

// A file kept by a refresh is not probed again: when the origin changed
// it, its first read fails as changed, as a file staged alone does.
func TestFolderChangedFile(t *testing.T) {
	o := newDirOrigin(t, map[string]string{"/pub/a.bin": "first version", "/pub/b.bin": "bravo"})
	e := newFolderEnv(t)
	body := `{"url":"` + o.srv.URL + `/pub/","folder":true}`
	if code, _, ae := e.stageFolder(t, body); code != http.StatusCreated {
		t.Fatalf("stage: %d %+v", code, ae)
	}
	e.waitQueue(t)
	o.set("/pub/a.bin", "second, longer version")
	if code, _, ae := e.stageFolder(t, body); code != http.StatusOK {
		t.Fatalf("refresh: %d %+v", code, ae)
	}
	e.waitQueue(t)
	_, heads, _ := o.counts()
	if heads["/pub/a.bin"] != 1 {
		t.Errorf("a.bin requested %d times by staging and refresh, want once", heads["/pub/a.bin"])
	}
	if code, got := e.webdavGet(t, "pub/a.bin"); code != http.StatusBadGateway || !strings.Contains(got, "changed") {
		t.Errorf("WebDAV GET of a changed file: %d %q, want 502 saying it changed", code, got)
	}
	code, _, b := e.do(t, call{method: "GET", path: filesPath + "/pub/a.bin"})
	if code != http.StatusOK || !strings.Contains(string(b), `"state":"failed"`) {
		t.Errorf("the changed entry: %d %s", code, b)
	}
}
