package vfs_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/store"
	"fsm/vfs"
)

// folderTree is a tree whose folder listings come from list, over a
// manager torn down at cleanup.
func folderTree(t *testing.T, list vfs.Lister) *vfs.FS {
	t.Helper()
	return folderTreeMax(t, list, 0)
}

func folderTreeMax(t *testing.T, list vfs.Lister, maxFiles int) *vfs.FS {
	t.Helper()
	m, err := store.NewManager(store.Options{Dir: t.TempDir(), RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fsys := vfs.New(vfs.Options{Manager: m, CloseTimeout: 5 * time.Second, List: list, MaxFiles: maxFiles})
	t.Cleanup(func() {
		fsys.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("manager close: %v", err)
		}
	})
	return fsys
}

// heldOrigin serves every path as a small file, except that the HEAD of
// held waits until release is closed, after telling arrived.
type heldOrigin struct {
	*httptest.Server
	held    string
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newHeldOrigin(t *testing.T, held string) *heldOrigin {
	o := &heldOrigin{held: held, arrived: make(chan struct{}), release: make(chan struct{})}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == o.held {
			o.once.Do(func() { close(o.arrived) })
			select {
			case <-o.release:
			case <-r.Context().Done():
				return
			}
		}
		http.ServeContent(w, r, "f", time.Unix(1e9, 0), strings.NewReader("content of "+r.URL.Path))
	}))
	t.Cleanup(o.Close)
	t.Cleanup(o.unblock)
	return o
}

func (o *heldOrigin) unblock() {
	select {
	case <-o.release:
	default:
		close(o.release)
	}
}

// listing is a Lister whose answer the test sets.
type listing struct {
	mu    sync.Mutex
	paths []string
	base  string
}

func (l *listing) set(paths ...string) {
	l.mu.Lock()
	l.paths = paths
	l.mu.Unlock()
}

func (l *listing) list(_ context.Context, _ string, _ http.Header, _ int) ([]vfs.Listed, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []vfs.Listed
	for _, p := range l.paths {
		out = append(out, vfs.Listed{Path: strings.Split(p, "/"), URL: l.base + "/" + p})
	}
	return out, nil
}

func names(fsys *vfs.FS) string {
	var out []string
	for _, e := range fsys.Entries() {
		out = append(out, e.Name+"="+string(e.State))
	}
	return strings.Join(out, " ")
}

func waitQueue(t *testing.T, fsys *vfs.FS) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fsys.WaitQueue(ctx); err != nil {
		t.Fatal(err)
	}
}

// A refresh that drops a file whose probe is still running throws the
// staging away when it ends: the file never appears.
func TestRefreshDropsAFileBeingProbed(t *testing.T) {
	o := newHeldOrigin(t, "/slow.bin")
	l := &listing{base: o.URL}
	l.set("a.bin", "slow.bin")
	fsys := folderTree(t, l.list)
	ctx := context.Background()
	req := vfs.FolderRequest{URL: o.URL + "/", Name: "f", Depth: 1}
	if _, refreshed, err := fsys.StageFolder(ctx, req); err != nil || refreshed {
		t.Fatalf("stage: %v %v", refreshed, err)
	}
	<-o.arrived
	if got := names(fsys); !strings.Contains(got, "f/slow.bin=probing") {
		t.Errorf("while probing: %s", got)
	}
	l.set("a.bin", "b.bin")
	if _, refreshed, err := fsys.StageFolder(ctx, req); err != nil || !refreshed {
		t.Fatalf("refresh: %v %v", refreshed, err)
	}
	o.unblock()
	waitQueue(t, fsys)
	if got, want := names(fsys), "f/a.bin=idle f/b.bin=idle"; got != want {
		t.Errorf("after refresh\n got %s\nwant %s", got, want)
	}
	if _, err := fsys.Stat("f/slow.bin"); err == nil {
		t.Error("the dropped file is in the tree")
	}
}

// Unstaging a folder while a probe of one of its files runs removes the
// folder; the probe's staging is thrown away, and the name is free.
func TestUnstageFolderWhileProbing(t *testing.T) {
	o := newHeldOrigin(t, "/slow.bin")
	l := &listing{base: o.URL}
	l.set("slow.bin", "sub/x.bin")
	fsys := folderTree(t, l.list)
	ctx := context.Background()
	if _, _, err := fsys.StageFolder(ctx, vfs.FolderRequest{URL: o.URL + "/", Name: "f", Depth: 1}); err != nil {
		t.Fatal(err)
	}
	<-o.arrived
	if err := fsys.Unstage(ctx, "f"); !errors.Is(err, vfs.ErrIsFolder) {
		t.Errorf("plain unstage of a folder: %v", err)
	}
	if err := fsys.UnstageFolder(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	o.unblock()
	waitQueue(t, fsys)
	if got := names(fsys); got != "" {
		t.Errorf("after unstage -r: %s", got)
	}
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL + "/one.bin", Name: "f"}); err != nil {
		t.Errorf("the folder's name is not free: %v", err)
	}
}

// Listing paths the name rules refuse, or that are a file and a folder at
// once, are failed entries with the reason; the others stage.
func TestFolderBadNames(t *testing.T) {
	o := newHeldOrigin(t, "/never")
	l := &listing{base: o.URL}
	l.set("ok.bin", "d", "d/inner.bin", ".DS_Store", "sp /x.bin", "ctl\x01.bin")
	fsys := folderTree(t, l.list)
	if _, _, err := fsys.StageFolder(context.Background(), vfs.FolderRequest{URL: o.URL + "/", Name: "f", Depth: 1}); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, fsys)
	want := map[string]string{
		"f/.DS_Store":   "desktop clients probe",
		"f/d":           "also has a folder",
		"f/d/inner.bin": "also a file",
		"f/sp /x.bin":   "starts or ends with a space",
		"f/ctl\x01.bin": "control",
	}
	for _, e := range fsys.Entries() {
		why, bad := want[e.Name]
		switch {
		case bad && (e.State != vfs.StateFailed || e.Err == nil || !strings.Contains(e.Err.Error(), why)):
			t.Errorf("%q: %s %v, want failed saying %q", e.Name, e.State, e.Err, why)
		case !bad && e.State != vfs.StateIdle:
			t.Errorf("%q: %s %v, want idle", e.Name, e.State, e.Err)
		}
		delete(want, e.Name)
	}
	if len(want) != 0 {
		t.Errorf("not listed: %v", want)
	}
	// A failed entry is unstaged like a failed file.
	if err := fsys.Unstage(context.Background(), "f/.DS_Store"); err != nil {
		t.Errorf("unstage a failed entry: %v", err)
	}
}

// A folder whose files would take the tree past MaxFiles is refused whole;
// its queued files count against the limit until they are staged.
func TestFolderMaxFiles(t *testing.T) {
	o := newHeldOrigin(t, "/c.bin")
	l := &listing{base: o.URL}
	l.set("a.bin", "b.bin", "c.bin", "d.bin")
	fsys := folderTreeMax(t, l.list, 3)
	ctx := context.Background()
	req := vfs.FolderRequest{URL: o.URL + "/", Name: "f", Depth: 1}
	if _, _, err := fsys.StageFolder(ctx, req); !errors.Is(err, vfs.ErrTooMany) {
		t.Fatalf("4 files into a tree of 3: %v, want ErrTooMany", err)
	}
	if got := names(fsys); got != "" {
		t.Errorf("after the refusal: %s", got)
	}
	l.set("a.bin", "b.bin", "c.bin")
	if _, _, err := fsys.StageFolder(ctx, req); err != nil {
		t.Fatal(err)
	}
	<-o.arrived // c.bin is queued or probing: it holds its place
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL + "/one.bin", Name: "one.bin"}); !errors.Is(err, vfs.ErrTooMany) {
		t.Errorf("a file while the folder's last is probed: %v, want ErrTooMany", err)
	}
	o.unblock()
	waitQueue(t, fsys)
	if got, want := names(fsys), "f/a.bin=idle f/b.bin=idle f/c.bin=idle"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// Sources given at start that wait in the queue behind a folder's probes
// end with their context: Queue's channel closes though the folder's
// probes still run, so a shutdown does not wait for them.
func TestQueueEndsWithItsContextBehindAFolder(t *testing.T) {
	arrived := make(chan struct{}, vfs.StagingConcurrency)
	release := make(chan struct{})
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/held/") {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		http.ServeContent(w, r, "f", time.Unix(1e9, 0), strings.NewReader("x"))
	}))
	t.Cleanup(o.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	l := &listing{base: o.URL + "/held"}
	var paths []string
	for i := range vfs.StagingConcurrency + 2 {
		paths = append(paths, string(rune('a'+i))+".bin")
	}
	l.set(paths...)
	fsys := folderTree(t, l.list)
	if _, _, err := fsys.StageFolder(context.Background(), vfs.FolderRequest{URL: o.URL + "/held/", Name: "f", Depth: 1}); err != nil {
		t.Fatal(err)
	}
	for range vfs.StagingConcurrency {
		<-arrived // every worker is busy with the folder
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := fsys.Queue(ctx, []func(context.Context){func(ctx context.Context) {
		_, _ = fsys.Stage(ctx, vfs.Request{URL: o.URL + "/one.bin", KeepFailure: true})
	}})
	select {
	case <-done:
		t.Fatal("Queue ended before its source was staged or its context ended")
	default:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // turns a hang into a failure, orders nothing
		t.Fatal("Queue did not end with its context while the folder's probes ran")
	}
	unblock()
	waitQueue(t, fsys)
	if _, err := fsys.Stat("one.bin"); err == nil {
		t.Error("a source staged after its context ended")
	}
}

// Unstaging a folder's file while it is probed removes it at once, as for
// a file staged alone; its staging is thrown away when the probe ends.
func TestUnstageFolderFileWhileProbing(t *testing.T) {
	o := newHeldOrigin(t, "/slow.bin")
	l := &listing{base: o.URL}
	l.set("a.bin", "slow.bin")
	fsys := folderTree(t, l.list)
	ctx := context.Background()
	if _, _, err := fsys.StageFolder(ctx, vfs.FolderRequest{URL: o.URL + "/", Name: "f", Depth: 1}); err != nil {
		t.Fatal(err)
	}
	<-o.arrived
	if err := fsys.Unstage(ctx, "f/slow.bin"); err != nil {
		t.Fatalf("unstage a probing entry: %v", err)
	}
	if _, ok := fsys.Entry("f/slow.bin"); ok {
		t.Error("still listed after unstage")
	}
	o.unblock()
	waitQueue(t, fsys)
	if _, err := fsys.Stat("f/slow.bin"); err == nil {
		t.Error("the unstaged entry reached the tree when its probe ended")
	}
	if got, want := names(fsys), "f/a.bin=idle"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
