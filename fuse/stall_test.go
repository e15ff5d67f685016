//go:build fuse

package fuse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/vfs"
)

// One stalled file must not stall page-cache reads of another: 16 reads
// wait on a stalled origin (more than the kernel's 12 background requests
// per mount), and a complete file still reads through the page cache
// while they wait.
func TestStalledFileDoesNotStallOthers(t *testing.T) {
	const readers = 16
	const background = 12 // the kernel's default max_background
	const size = 16 << 20
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 17, Size: size}}, Options{ReadTimeout: 2 * time.Minute})
	other := testorigin.Content{Seed: 18, Size: 8 << 20}
	otherOrigin := testorigin.New(t, testorigin.Options{Content: other, Name: "/other.bin"})
	otherFile, err := e.fsys.Stage(context.Background(), vfs.Request{URL: otherOrigin.URL(), Name: "other.bin"})
	if err != nil {
		t.Fatal(err)
	}
	// Download it completely (through a handle, not the mount): it then
	// opens through the page cache, which is cold for it.
	h, err := e.fsys.Open("other.bin")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := h.CopyTo(context.Background(), io.Discard, 0, other.Size); err != nil || n != other.Size {
		t.Fatalf("download other.bin: %d bytes, %v", n, err)
	}
	h.Close()
	if p := otherFile.Progress(); p.Present != p.Size {
		t.Fatalf("other.bin not complete: %+v", p)
	}

	release := e.origin.Block()
	defer release()
	errs := e.spreadReads(readers, size, 64<<10)
	// Through the page cache only 12 of them could be in flight at once.
	fsmtest.Eventually(t, "12 reads waiting on the stalled origin", func() bool { return e.file.Progress().Readers >= background })

	done := make(chan error, 1)
	go func() {
		data, err := os.ReadFile(filepath.Join(e.dir, "other.bin"))
		if err == nil && !bytes.Equal(data, other.Bytes(0, other.Size)) {
			err = errors.New("other.bin: wrong bytes")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reading a complete file hung while reads of another wait on its origin")
	}
	// The proof is the order: the complete file was read while every
	// stalled read was still waiting.
	if n := e.file.Progress().Readers; n < background {
		t.Errorf("only %d stalled reads still waiting after the other file was read: it waited for them", n)
	}
	release()
	for i := 0; i < readers; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
