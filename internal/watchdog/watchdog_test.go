package watchdog

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errQuiet = errors.New("quiet")

func TestFiresWithItsCause(t *testing.T) {
	ctx, d := New(context.Background(), time.Millisecond, errQuiet)
	defer d.Stop()
	<-ctx.Done()
	if !d.Fired() || !errors.Is(context.Cause(ctx), errQuiet) {
		t.Fatalf("Fired %v, cause %v; want true, %v", d.Fired(), context.Cause(ctx), errQuiet)
	}
}

func TestPausedDoesNotFire(t *testing.T) {
	// A limit no test run reaches: Pause must hold it off, and only the
	// parent's end may cancel the context.
	parent, cancel := context.WithCancel(context.Background())
	ctx, d := New(parent, time.Hour, errQuiet)
	defer d.Stop()
	d.Pause()
	d.Kick()
	d.Pause()
	cancel()
	<-ctx.Done()
	if d.Fired() {
		t.Fatal("Fired after the parent ended, want false")
	}
}

func TestKickedAfterPauseFires(t *testing.T) {
	ctx, d := New(context.Background(), time.Millisecond, errQuiet)
	defer d.Stop()
	d.Pause()
	d.Resume()
	<-ctx.Done()
	if !d.Fired() {
		t.Fatal("a resumed Dog did not fire")
	}
}

func TestStopIsNotFired(t *testing.T) {
	ctx, d := New(context.Background(), time.Hour, errQuiet)
	d.Stop()
	<-ctx.Done()
	if d.Fired() {
		t.Fatal("Fired after Stop, want false")
	}
}
