package state

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

// What Save writes, Load reads back whole, in a 0600 file; header values
// are kept.
func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	files := []File{{
		Name: "a/b.bin", URL: "https://h/b?sig=1", Header: http.Header{"Authorization": {"Bearer x"}},
		Size: 10, ModTime: time.Unix(1700000000, 0).UTC(), ETag: `"e"`, Temp: "1.part",
		Ranges: [][2]int64{{0, 4}, {6, 10}}, Sums: []uint64{1<<63 + 5}, Downloading: true,
	}}
	var log bytes.Buffer
	k := NewKeeper(dir, testLogger(&log), func() []File { return files }, func() int64 { return 0 })
	k.Save()
	info, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v", err, info.Mode())
	}
	got := Load(dir, testLogger(&log))
	if len(got) != 1 || got[0].Name != files[0].Name || got[0].Header.Get("Authorization") != "Bearer x" ||
		len(got[0].Ranges) != 2 || got[0].Ranges[1] != [2]int64{6, 10} || got[0].Sums[0] != files[0].Sums[0] ||
		!got[0].ModTime.Equal(files[0].ModTime) || !got[0].Downloading {
		t.Fatalf("loaded %+v, saved %+v", got, files)
	}
	if strings.Contains(log.String(), "Bearer") {
		t.Errorf("a header value was logged:\n%s", log.String())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, FileName+".new")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A damaged or unknown-version file is set aside, never an error; a
// missing one is no files and no warning.
func TestLoadSetsAside(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		aside         bool
	}{
		{"missing", "", false},
		{"truncated", `{"version":1,"files":[{"na`, true},
		{"not json", "\x00\x01garbage", true},
		{"unknown version", `{"version":2,"files":[]}`, true},
		{"no version", `{"files":[]}`, true},
		{"wrong type", `{"version":1,"files":{"a":1}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				os.WriteFile(filepath.Join(dir, FileName), []byte(tc.content), 0o600)
			}
			var log bytes.Buffer
			if got := Load(dir, testLogger(&log)); got != nil {
				t.Errorf("loaded %+v", got)
			}
			aside, _ := filepath.Glob(filepath.Join(dir, FileName+".bad-*"))
			if (len(aside) == 1) != tc.aside || strings.Contains(log.String(), "set aside") != tc.aside {
				t.Errorf("set aside: %v; log:\n%s", aside, log.String())
			}
			if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
				t.Errorf("the unusable file is still in place: %v", err)
			}
		})
	}
}

// The keeper writes at once when kicked, and after a batch of bytes
// arrived without waiting for the interval; it does not rewrite an
// unchanged state.
func TestKeeper(t *testing.T) {
	dir := t.TempDir()
	var gen, arrived atomic.Int64
	snap := func() []File { return []File{{Name: "f", Size: gen.Load()}} }
	var log bytes.Buffer
	k := NewKeeper(dir, testLogger(&log), snap, arrived.Load)
	k.interval = time.Hour // only kicks and batches write
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	defer func() { cancel(); <-done }()

	sizeOnDisk := func() int64 {
		files := Load(dir, testLogger(&log))
		if len(files) != 1 {
			return -1
		}
		return files[0].Size
	}
	waitFor := func(want int64) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for sizeOnDisk() != want {
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("state file never held size %d (has %d)", want, sizeOnDisk())
			}
		}
	}
	gen.Store(1)
	k.Kick()
	waitFor(1)
	gen.Store(2)
	arrived.Store(Batch - 1) // not a batch yet: nothing written
	for range 3 {
		time.Sleep(poll) // not ordering: giving a wrong write its chance
	}
	if got := sizeOnDisk(); got != 1 {
		t.Fatalf("written before a batch arrived: size %d", got)
	}
	arrived.Store(Batch) // a batch: written within a poll (the interval is an hour)
	waitFor(2)
	info1, _ := os.Stat(filepath.Join(dir, FileName))
	k.Save() // unchanged: not rewritten
	info2, _ := os.Stat(filepath.Join(dir, FileName))
	if !os.SameFile(info1, info2) {
		t.Errorf("an unchanged state was rewritten")
	}
}
