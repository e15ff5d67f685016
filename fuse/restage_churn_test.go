//go:build fuse

package fuse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/vfs"
)

// One name staged and unstaged over and over from two origin files while
// readers open it, tell by fstat which file they got, and check every byte
// they read, also after the name moved on to the other file.
func TestRestageChurn(t *testing.T) {
	e := newRestageEnv(t)
	contents := []testorigin.Content{{Seed: 501, Size: 1<<20 + 3}, {Seed: 502, Size: 2<<20 + 5}}
	urls := make([]string, len(contents))
	for i, c := range contents {
		urls[i] = testorigin.New(t, testorigin.Options{Content: c}).URL()
	}
	const rounds, readers, opensPerRound = 30, 4, 3

	opened := make(chan struct{}, readers)
	done := make(chan struct{})
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- churnReader(e.path, contents, uint64(r), opened, done)
		}()
	}
	for round := 0; round < rounds; round++ {
		if _, err := e.fsys.Stage(context.Background(), vfs.Request{URL: urls[round%2], Name: e.name}); err != nil {
			t.Fatal(err)
		}
		// Some readers have this staging open before it goes.
		for k := 0; k < opensPerRound; k++ {
			select {
			case <-opened:
			case err := <-errs: // a reader stopped early: only on an error
				t.Fatalf("round %d: %v", round, err)
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: no reader opened the file", round)
			}
		}
		e.unstage()
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func churnReader(path string, contents []testorigin.Content, seed uint64, opened chan<- struct{}, done <-chan struct{}) error {
	for i := 0; ; i++ {
		select {
		case <-done:
			return nil
		default:
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // between an unstage and the next stage
		}
		if err != nil {
			return err
		}
		err = churnRead(f, contents, seed+uint64(i)<<8, opened)
		f.Close()
		if err != nil {
			return err
		}
	}
}

func churnRead(f *os.File, contents []testorigin.Content, seed uint64, opened chan<- struct{}) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	var c testorigin.Content
	for _, cand := range contents {
		if cand.Size == fi.Size() {
			c = cand
		}
	}
	if c.Size == 0 {
		return fmt.Errorf("fstat says %d bytes: neither file's size", fi.Size())
	}
	select {
	case opened <- struct{}{}:
	default:
	}
	// Read on across the unstage that is now due, then fstat again.
	if err := randomReads(f, c, seed, time.Second, 40); err != nil {
		return err
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != c.Size {
		return fmt.Errorf("fstat after reading: %v, %v; want size %d", fi, err, c.Size)
	}
	return nil
}
