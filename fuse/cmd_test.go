//go:build fuse && linux

package fuse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/mountinfo"
	"fsm/internal/testorigin"
)

// These tests run the real fsm binary, built with the FUSE tags, against
// real loopback origins and real mounts in t.TempDir().

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// fsmBinary builds ./cmd/fsm with FUSE once per test run.
// repoRoot is read before any test runs: libfuse changes the process's
// working directory to / when an in-process test mounts.
var repoRoot, repoRootErr = filepath.Abs("..")

func fsmBinary(t *testing.T) string {
	t.Helper()
	requireFUSE(t)
	if testing.Short() {
		t.Skip("builds the fsm binary")
	}
	buildOnce.Do(func() {
		root, err := repoRoot, repoRootErr
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "fsm-fuse-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "fsm")
		tags := "fuse"
		if isFuse3 {
			tags = "fuse,fuse3"
		}
		build := exec.Command("go", "build", "-tags", tags, "-o", binPath, "./cmd/fsm")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build -tags %s ./cmd/fsm: %w\n%s", tags, err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// fsmProc is a running `fsm serve --fuse DIR`.
type fsmProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string // the mount point
	cache  string
	webdav string
	log    *fsmtest.Buffer
	exited chan struct{} // closed once Wait returned; err holds its result
	err    error
}

var servingRE = regexp.MustCompile(`webdav=(http://\S+/)`)

// startFsm starts fsm with its mount at dir and waits until it serves.
func startFsm(t *testing.T, dir, cache string, sources ...string) *fsmProc {
	t.Helper()
	return startFsmAs(t, nil, dir, cache, sources...)
}

// startFsmAs is startFsm as the user cred (nil: this process's).
func startFsmAs(t *testing.T, cred *syscall.Credential, dir, cache string, sources ...string) *fsmProc {
	t.Helper()
	// --persist=false: these tests check that nothing is left behind.
	args := append([]string{"serve", "--fuse", dir, "--cache-dir", cache, "--persist=false", "--addr", "127.0.0.1:0"}, sources...)
	p := &fsmProc{t: t, cmd: exec.Command(fsmBinary(t), args...), dir: dir, cache: cache, log: &fsmtest.Buffer{}, exited: make(chan struct{})}
	// The token file goes to the user's cache folder: keep it in the
	// test's, so that no test writes outside its temp dirs (a killed fsm
	// leaves it behind). As another user, the cache dir is the one folder
	// that user may write.
	home := t.TempDir()
	if cred != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		home = cache
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FSM_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.log.WriteString(sc.Text() + "\n")
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				serving <- m[1]
			}
		}
		p.err = p.cmd.Wait() // after the pipe is read to its end
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		// A failed test may leave its own mount behind; nothing else.
		if top(dir).FSType == fsType {
			exec.Command(fusermount(), "-uz", dir).Run()
		}
	})
	select {
	case p.webdav = <-serving:
	case <-p.exited:
		t.Fatalf("fsm exited before serving: %v\n%s", p.err, p.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("fsm did not serve within 60 s\n%s", p.log)
	}
	// Sources are staged in the background: wait until each is listed.
	for _, src := range sources {
		u, err := url.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		// Asked over WebDAV: root may not look into another user's mount.
		name := path.Base(u.EscapedPath())
		fsmtest.Eventually(t, name+" staged", func() bool {
			resp, err := http.Head(p.webdav + name)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	return p
}

func (p *fsmProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits up to d for the exit and returns its status (-1: still running).
func (p *fsmProc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		return -1
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

func (p *fsmProc) waitLog(what string) {
	p.t.Helper()
	fsmtest.Eventually(p.t, "fsm to log "+what, func() bool { return strings.Contains(p.log.String(), what) })
}

// top is the topmost mount table entry at dir (zero if none).
func top(dir string) mountinfo.Entry {
	mounts, _ := mountinfo.Read()
	e, _ := mountinfo.At(mounts, dir)
	return e
}

// assertClean checks what every exit must leave: no mount of fsm at the
// mount point, no temp file, and none of FUSE's raw unmount complaints.
func (p *fsmProc) assertClean() {
	p.t.Helper()
	if e := top(p.dir); e.FSType == fsType {
		p.t.Errorf("fsm mount left at %s after exit: %+v", p.dir, e)
	}
	var left []string
	filepath.WalkDir(p.cache, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".part") {
			left = append(left, path)
		}
		return nil
	})
	if len(left) > 0 {
		p.t.Errorf("temp files left in the cache dir: %v", left)
	}
	if log := p.log.String(); strings.Contains(log, "fusermount") || strings.Contains(log, "Invalid argument") {
		p.t.Errorf("raw unmount errors on stderr:\n%s", log)
	}
}

// TestServeBinary reads a file through the real binary's mount; SIGTERM with
// a read blocked on a stalled origin fails that read (after the drain) and
// exits 0, leaving nothing behind.
func TestServeBinary(t *testing.T) {
	const size = 3<<20 + 5
	content := testorigin.Content{Seed: 9, Size: size}
	origin := testorigin.New(t, testorigin.Options{Content: content})
	blocked := testorigin.New(t, testorigin.Options{Content: content, Name: "/blocked.bin"})
	p := startFsm(t, t.TempDir(), t.TempDir(), origin.URL(), blocked.URL())

	data, err := os.ReadFile(filepath.Join(p.dir, "file.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, content.Bytes(0, size)) {
		t.Fatalf("read %d bytes through the mount; they differ from the origin's", len(data))
	}
	release := blocked.Block()
	defer release()
	readErr := make(chan error, 1)
	go func() {
		f, err := os.Open(filepath.Join(p.dir, "blocked.bin"))
		if err != nil {
			readErr <- err
			return
		}
		_, err = f.ReadAt(make([]byte, 4096), 0)
		f.Close()
		readErr <- err
	}()
	fsmtest.Eventually(t, "a FUSE read blocked on the origin", func() bool { return blocked.Waiting() > 0 })

	p.signal(syscall.SIGTERM)
	code := p.wait(60 * time.Second)
	if err := <-readErr; !errors.Is(err, syscall.EIO) {
		t.Errorf("read blocked at shutdown: %v, want EIO", err)
	}
	if code != 0 {
		t.Errorf("fsm exited with %d after SIGTERM\n%s", code, p.log)
	}
	p.assertClean()
}

// A mount point that is itself a mount (a tmpfs) keeps it: fsm removes only
// its own mount, also when it clears a stale one a killed fsm left there.
func TestMountOverMountSurvives(t *testing.T) {
	if os.Geteuid() != 0 {
		fsmtest.Require(t, "root (to mount a tmpfs)", fmt.Errorf("running as uid %d", os.Geteuid()))
	}
	bin := fsmBinary(t)
	_ = bin
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "fsmtest", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	tmpfs := top(dir)
	t.Cleanup(func() {
		if top(dir).Dev == tmpfs.Dev {
			if err := syscall.Unmount(dir, 0); err != nil {
				t.Errorf("unmount our tmpfs: %v", err)
			}
		}
	})
	c := testorigin.Content{Seed: 10, Size: 1 << 20}
	origin := testorigin.New(t, testorigin.Options{Content: c})

	// A killed fsm leaves a dead mount over the tmpfs; the next start
	// clears it.
	killed := startFsm(t, dir, t.TempDir(), origin.URL())
	killed.cmd.Process.Kill()
	killed.wait(30 * time.Second)
	if e := top(dir); e.FSType != fsType {
		t.Fatalf("after SIGKILL the top mount is %+v, want fsm's dead one", e)
	}

	p := startFsm(t, dir, t.TempDir(), origin.URL())
	if data, err := os.ReadFile(filepath.Join(dir, "file.bin")); err != nil || !bytes.Equal(data, c.Bytes(0, c.Size)) {
		t.Fatalf("read through the mount: %d bytes, %v", len(data), err)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, p.log)
	}
	p.assertClean()
	if e := top(dir); e.Dev != tmpfs.Dev {
		t.Fatalf("the tmpfs under the mount is gone: top mount at %s is %+v, want %+v", dir, e, tmpfs)
	}
}

// SIGHUP (terminal closed) shuts down like SIGTERM.
func TestSIGHUPShutsDown(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		// fsm inherits the ignored SIGHUP and keeps running on purpose
		// (`nohup fsm serve`): there is no shutdown to test.
		t.Skip("SIGHUP is ignored in this process (run under nohup?), and so in the fsm it starts")
	}
	c := testorigin.Content{Seed: 11, Size: 2 << 20}
	origin := testorigin.New(t, testorigin.Options{Content: c})
	p := startFsm(t, t.TempDir(), t.TempDir(), origin.URL())
	if data, err := os.ReadFile(filepath.Join(p.dir, "file.bin")); err != nil || !bytes.Equal(data, c.Bytes(0, c.Size)) {
		t.Fatalf("read through the mount: %d bytes, %v", len(data), err)
	}
	p.signal(syscall.SIGHUP)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGHUP\n%s", code, p.log)
	}
	p.assertClean()
	if left, _ := filepath.Glob(filepath.Join(p.cache, "*")); len(left) != 0 {
		t.Errorf("left in the cache dir after SIGHUP: %v", left)
	}
}

// With a file held open the first SIGTERM waits for it (the drain); a
// second one exits at once and still removes the mount.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	c := testorigin.Content{Seed: 12, Size: 1 << 20}
	origin := testorigin.New(t, testorigin.Options{Content: c})
	p := startFsm(t, t.TempDir(), t.TempDir(), origin.URL())
	f, err := os.Open(filepath.Join(p.dir, "file.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first := time.Now()
	p.signal(syscall.SIGTERM)
	p.waitLog("signal received")
	if code := p.wait(0); code != -1 {
		t.Fatalf("fsm exited (%d) with a file still open, before the drain timeout\n%s", code, p.log)
	}
	// The same signal again within 300 ms is the first one seen twice (a
	// terminal signals the whole process group): a second signal is one
	// sent after that window. Not ordering anything: the rule is a time.
	time.Sleep(time.Until(first.Add(500 * time.Millisecond)))
	p.signal(syscall.SIGTERM)
	// The drain alone would take 10 s: 5 s tells the two apart with room
	// for a loaded machine.
	code := p.wait(5 * time.Second)
	if code == -1 {
		t.Fatalf("fsm still running 5 s after the second SIGTERM\n%s", p.log)
	}
	if want := 128 + int(syscall.SIGTERM); code != want {
		t.Errorf("exit %d after the second SIGTERM, want %d", code, want)
	}
	if e := top(p.dir); e.FSType == fsType {
		t.Errorf("fsm mount left at %s after the second signal: %+v", p.dir, e)
	}
}

// A reader that is about a second from done when SIGTERM arrives finishes
// with every byte right: FUSE readers are drained like WebDAV ones.
func TestReaderFinishesAcrossSIGTERM(t *testing.T) {
	const size = 3 << 20
	c := testorigin.Content{Seed: 13, Size: size}
	origin := testorigin.New(t, testorigin.Options{Content: c, BytesPerSecond: 1 << 20})
	p := startFsm(t, t.TempDir(), t.TempDir(), origin.URL())
	f, err := os.Open(filepath.Join(p.dir, "file.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got bytes.Buffer
	if _, err := io.CopyN(&got, f, 1<<20); err != nil {
		t.Fatalf("first MiB: %v", err)
	}
	p.signal(syscall.SIGTERM)
	p.waitLog("signal received")
	if _, err := io.Copy(&got, f); err != nil {
		t.Fatalf("read across SIGTERM: %v after %d bytes\n%s", err, got.Len(), p.log)
	}
	if !bytes.Equal(got.Bytes(), c.Bytes(0, size)) {
		t.Fatalf("read %d bytes across SIGTERM; they differ from the origin's", got.Len())
	}
	f.Close()
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, p.log)
	}
	p.assertClean()
}

// An outside unmount ends the mount only: WebDAV keeps serving.
func TestOutsideUnmountKeepsWebDAV(t *testing.T) {
	c := testorigin.Content{Seed: 14, Size: 100 << 10}
	origin := testorigin.New(t, testorigin.Options{Content: c})
	p := startFsm(t, t.TempDir(), t.TempDir(), origin.URL())
	if out, err := exec.Command(fusermount(), "-uz", p.dir).CombinedOutput(); err != nil {
		t.Fatalf("%s -uz: %v %s", fusermount(), err, out)
	}
	p.waitLog("unmounted from outside")
	resp, err := http.Get(p.webdav + "file.bin")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("WebDAV GET after the outside unmount: %s, %d bytes, %v", resp.Status, len(body), err)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, p.log)
	}
	p.assertClean()
}

// `fsm version` of a FUSE build says so.
func TestVersionSaysFUSE(t *testing.T) {
	out, err := exec.Command(fsmBinary(t), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "FUSE: built in (libfuse") {
		t.Fatalf("fsm version: %v\n%s", err, out)
	}
}

// As an ordinary user fsm unmounts through fusermount3: SIGTERM still
// leaves no mount and none of fusermount3's complaints on stderr.
func TestServeBinaryAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		fsmtest.Require(t, "root (to run fsm as another user)", fmt.Errorf("running as uid %d", os.Geteuid()))
	}
	const uid, gid = 65534, 65534 // nobody
	bin := fsmBinary(t)
	dir, cache := t.TempDir(), t.TempDir()
	for _, p := range []string{filepath.Dir(bin), filepath.Dir(dir), filepath.Dir(cache)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, cache} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c := testorigin.Content{Seed: 19, Size: 1 << 20}
	origin := testorigin.New(t, testorigin.Options{Content: c})
	p := startFsmAs(t, &syscall.Credential{Uid: uid, Gid: gid}, dir, cache, origin.URL())
	if e := top(dir); e.FSType != fsType {
		t.Fatalf("no fsm mount at %s: %+v", dir, e)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.log)
	}
	p.assertClean()
}
