package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"fsm/internal/testorigin"
)

// ext4Cache mounts a fresh ext4 file system of size bytes (a loop device
// over a file) for the cache: ext4, unlike tmpfs, keeps what a failed
// fallocate took, and refuses files over 16 TiB. It needs root and
// mkfs.ext4.
func ext4Cache(t *testing.T, size int64) string {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		skip("mkfs.ext4 unavailable: %v", err)
	}
	img := filepath.Join(t.TempDir(), "cache.img")
	dir := t.TempDir()
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		skip("cannot mount an ext4 image (needs root and loop devices): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// logBuffer collects a manager's log lines for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func free(t *testing.T, dir string) int64 {
	t.Helper()
	f, _ := diskSpace(dir)
	if f < 0 {
		t.Fatalf("statfs %s failed", dir)
	}
	return f
}

// TestMargin: without a budget fsm leaves max(1 GiB, 5 %) of the disk
// free, or what FreeMargin says; with a budget, nothing.
func TestMargin(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name           string
		maxSize, given int64
		total, want    int64
	}{
		{"small disk: 1 GiB", 0, 0, 4 * gib, gib},
		{"large disk: 5 %", 0, 0, 100 * gib, 5 * gib},
		{"given", 0, 3 << 20, 100 * gib, 3 << 20},
		{"none", 0, -1, 100 * gib, 0},
		{"a budget rules", 10 << 20, 0, 100 * gib, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{opts: Options{MaxSize: tc.maxSize, FreeMargin: tc.given}}
			if got := m.marginOf(tc.total); got != tc.want {
				t.Errorf("margin %d, want %d", got, tc.want)
			}
		})
	}
}

// TestFarReadOfAFileThatCannotFit is issue 22's disk-full case on ext4,
// which keeps what a failed fallocate took: a file far bigger than the
// disk, read 64 KiB far into it, must get its bytes (its range is
// reserved, not the whole file) and must leave the disk's free space as
// it was but for those bytes.
func TestFarReadOfAFileThatCannotFit(t *testing.T) {
	so := fastOpts()
	so.Dir = ext4Cache(t, 64<<20)
	so.FreeMargin = 8 << 20
	c := testorigin.Content{Seed: 301, Size: 1 << 30}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("huge"))
	before := free(t, so.Dir)
	off := c.Size / 2
	checkRead(t, s, c, off, 64<<10)
	// The background fill goes on after the read, range by range, until
	// it would cut into the margin or the room later reads need.
	eventually(t, "the fill to stop at the margin", func() bool { return s.fetchers() == 0 })
	after := free(t, so.Dir)
	if after < so.FreeMargin-int64(so.ChunkSize) {
		t.Errorf("%d bytes free after the read, want at least the margin of %d (%d were free before)", after, so.FreeMargin, before)
	}
	if p := s.Progress(); p.Present < 64<<10 || p.Present > before {
		t.Errorf("present %d after the read", p.Present)
	}
	checkRead(t, s, c, off, 64<<10) // still here
	// The fill left room for reads elsewhere.
	checkRead(t, s, c, c.Size/4, 64<<10)
	checkRead(t, s, c, c.Size-100, 100)
	_, err := readAt(t, s, 0, 64<<20)
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("read of more than the disk holds: %v, want ErrNoSpace", err)
	}
}

// TestGiveBack: a fallocate that fails on ext4 keeps the blocks it took;
// giveBack frees them at once, and leaves bytes already present as they
// were.
func TestGiveBack(t *testing.T) {
	so := fastOpts()
	so.Dir = ext4Cache(t, 64<<20)
	so.FreeMargin = 40 << 20 // the fill stops there, leaving room for fallocate to take
	c := testorigin.Content{Seed: 302, Size: 256 << 20}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("big"))
	checkRead(t, s, c, 3<<20, 1<<20)
	eventually(t, "the fill to stop", func() bool { return s.fetchers() == 0 })
	before := free(t, so.Dir)
	f, err := s.file.acquire()
	must(t, err)
	defer s.file.release()
	if err := allocate(f, 0, c.Size); !errors.Is(err, errDiskFull) {
		t.Fatalf("fallocate of %d bytes on a 64 MiB disk: %v, want errDiskFull", c.Size, err)
	}
	if took := before - free(t, so.Dir); took < 16<<20 {
		t.Skipf("this kernel's ext4 gave back what a failed fallocate took (%d bytes kept): nothing to test", took)
	}
	s.giveBack(f)
	if after := free(t, so.Dir); after < before-64<<10 {
		t.Errorf("%d bytes free after giving back, %d before the reservation", after, before)
	}
	checkRead(t, s, c, 3<<20, 1<<20)
}

// TestTooBigForTheDisk: a size ext4 cannot hold in one file is a local
// limit (ErrNoSpace, 507), named as such, not an origin error.
func TestTooBigForTheDisk(t *testing.T) {
	so := fastOpts()
	so.Dir = ext4Cache(t, 16<<20)
	c := testorigin.Content{Seed: 303, Size: 1000}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	src := e.source("claims a petabyte")
	src.Size = 1 << 50
	_, err := e.m.create(src.split())
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "the cache disk cannot hold a file of 1.0 PiB") {
		t.Fatalf("staging a 1 PiB file on ext4: %v, want ErrNoSpace naming the size", err)
	}
}

// TestBiggerThanTheBudget: a file bigger than the whole budget is staged,
// with a warning that reading it will exceed the budget.
func TestBiggerThanTheBudget(t *testing.T) {
	var logs logBuffer
	so := fastOpts()
	so.MaxSize = 1 << 20
	so.Logger = logs.logger()
	c := testorigin.Content{Seed: 304, Size: 2 << 20}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("big"))
	if n := logs.count("larger than the whole cache budget"); n != 1 {
		t.Errorf("%d warnings about the budget, want 1", n)
	}
	checkRead(t, s, c, 0, c.Size)
	small := e.newStore(t, testSource{Name: "small", URL: e.o.URL(), Size: 1 << 19})
	_ = small
	if n := logs.count("larger than the whole cache budget"); n != 1 {
		t.Errorf("%d warnings after a file within the budget, want 1", n)
	}
}

// stageUnknown probes u, which must not tell its size, and stages it.
func stageUnknown(t *testing.T, m *Manager, u string) (*Store, error) {
	t.Helper()
	ctx := context.Background()
	r, err := m.Probe(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	if r.Size != -1 {
		t.Fatalf("probe of %s found size %d; the test needs an unknown size", u, r.Size)
	}
	return m.Stage(ctx, Source{Name: "unknown", URL: u}, r, nil)
}

// TestUnknownSizeBounded: a source of unknown size counts against the
// budget as it downloads, and against the disk's free margin without one:
// past either it fails with ErrNoSpace, leaves no temp file and no charge,
// instead of filling the disk.
func TestUnknownSizeBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		budget  int64
		margin  int64
		message string
	}{
		{"budget", 2 << 20, 0, "passed the cache budget of 2097152 bytes"},
		{"free margin", 0, 4 << 20, "up to its free margin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			so := fastOpts()
			so.Dir = tmpfsCache(t, "8m")
			so.MaxSize, so.FreeMargin = tc.budget, tc.margin
			c := testorigin.Content{Seed: 305, Size: 32 << 20}
			e := newEnv(t, testorigin.Options{Content: c, IgnoreRange: true, NoContentLength: true}, so)
			_, err := stageUnknown(t, e.m, e.o.URL())
			if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("staging a source of unknown size bigger than the cache: %v, want ErrNoSpace saying %q", err, tc.message)
			}
			if left, _ := filepath.Glob(filepath.Join(e.m.Dir(), "*.part")); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
			if u := e.m.usedBytes(); u != 0 {
				t.Errorf("%d bytes still charged", u)
			}
			if f := free(t, so.Dir); f < 3<<20 {
				t.Errorf("only %d bytes free on the 8 MiB cache disk", f)
			}
		})
	}
}

// TestUnknownSizeEvictsIdle: a source of unknown size that fits the budget
// only once an idle file goes makes it go, and is staged.
func TestUnknownSizeEvictsIdle(t *testing.T) {
	so := fastOpts()
	so.MaxSize = 3 << 20
	c := testorigin.Content{Seed: 306, Size: 2 << 20}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	idle := e.newStore(t, e.source("idle"))
	checkRead(t, idle, c, 0, c.Size)
	u := testorigin.New(t, testorigin.Options{Content: c, IgnoreRange: true, NoContentLength: true})
	s, err := stageUnknown(t, e.m, u.URL())
	if err != nil {
		t.Fatal(err)
	}
	if p := idle.Progress(); p.Present != 0 {
		t.Errorf("the idle file kept %d bytes", p.Present)
	}
	checkRead(t, s, c, 0, c.Size)
	if got := e.m.usedBytes(); got != c.Size {
		t.Errorf("%d bytes charged, want %d", got, c.Size)
	}
}

// TestCacheDirRemoved: the cache dir is removed while files are staged.
// New stagings work, the folder is made again (0700) and that is logged
// once; idle and complete files download again when read; a file whose
// temp file is held open keeps serving its reads through that descriptor,
// while a copy that must open the file by path fails saying why, and works
// again once the file was closed.
func TestCacheDirRemoved(t *testing.T) {
	var logs logBuffer
	so := fastOpts()
	so.Dir = filepath.Join(t.TempDir(), "cache")
	so.Logger = logs.logger()
	c := testorigin.Content{Seed: 307, Size: 1 << 20}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	complete := e.newStore(t, e.source("complete"))
	checkRead(t, complete, c, 0, c.Size)
	idle := e.newStore(t, e.source("idle"))
	open := e.newStore(t, e.source("open"))
	if !open.OpenHandle() {
		t.Fatal("OpenHandle refused")
	}
	checkRead(t, open, c, 0, c.Size)
	eventually(t, "downloads done", func() bool {
		return complete.fetchers() == 0 && open.fetchers() == 0
	})

	must(t, os.RemoveAll(so.Dir))

	fresh := e.newStore(t, e.source("fresh"))
	st, err := os.Stat(e.m.Dir())
	must(t, err)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("run folder made again with mode %v, want 0700", st.Mode().Perm())
	}
	for _, s := range []*Store{fresh, idle, complete} {
		checkRead(t, s, c, 0, c.Size)
	}
	checkRead(t, open, c, 0, c.Size) // through its open descriptor
	var b bytes.Buffer
	if _, err := open.CopyTo(context.Background(), &b, 0, c.Size); err == nil || !strings.Contains(err.Error(), "cache dir was removed") {
		t.Errorf("copy of a file open while the cache dir went: %v, want an error saying so", err)
	}
	must(t, open.ReleaseHandle(context.Background()))
	b.Reset()
	if _, err := complete.CopyTo(context.Background(), &b, 0, c.Size); err != nil || !bytes.Equal(b.Bytes(), c.Bytes(0, c.Size)) {
		t.Fatalf("copy after the file was made again: %v", err)
	}
	if !open.OpenHandle() {
		t.Fatal("OpenHandle refused")
	}
	b.Reset()
	if _, err := open.CopyTo(context.Background(), &b, 0, c.Size); err != nil || !bytes.Equal(b.Bytes(), c.Bytes(0, c.Size)) {
		t.Fatalf("copy once the file was opened again: %v", err)
	}
	must(t, open.ReleaseHandle(context.Background()))
	if n := logs.count("the cache dir was removed"); n != 1 {
		t.Errorf("%d log lines about the removed cache dir, want 1:\n%s", n, fmt.Sprint(logs.b.String()))
	}
}

// TestGiveBackDuringDownload: giving back a failed reservation's blocks
// while several fetches write the file never punches a byte that is
// present or being written: every byte read during and after is right.
func TestGiveBackDuringDownload(t *testing.T) {
	so := fastOpts()
	so.Dir = tmpfsCache(t, "64m")
	so.FreeMargin = -1
	so.Connections, so.MaxFetchers = 4, 8
	c := testorigin.Content{Seed: 308, Size: 16 << 20}
	e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: 32 << 20}, so)
	s := e.newStore(t, e.source("f"))
	if !s.OpenHandle() {
		t.Fatal("OpenHandle refused")
	}
	defer s.ReleaseHandle(context.Background())
	f, err := s.file.acquire()
	must(t, err)
	defer s.file.release()
	stop := make(chan struct{})
	punched := make(chan int)
	go func() {
		n := 0
		defer func() { punched <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.giveBack(f)
			n++
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range int64(8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off, n := i*(c.Size/8), c.Size/8
			got, err := readAt(t, s, off, n)
			if err := compareRead(c, off, n, got, err); err != nil {
				errs <- err
			}
		}()
	}
	waitAll(t, &wg, "readers")
	close(stop)
	if n := wait(t, punched, "the give-backs to stop"); n < 10 {
		t.Logf("only %d give-backs ran during the download", n)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkRead(t, s, c, 0, c.Size)
}
