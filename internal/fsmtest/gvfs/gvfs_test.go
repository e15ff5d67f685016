//go:build linux

package gvfs_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/fsmtest/gvfs"
	"fsm/internal/mountinfo"
	"fsm/internal/proc"
)

// A session comes up with gvfsd on its bus and gvfsd-fuse's mount, and
// Stop leaves nothing of it: no process, no mount, no directory.
func TestStartStop(t *testing.T) {
	t.Parallel()
	fsmtest.Require(t, "gvfs", gvfs.Missing())
	log := &fsmtest.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := gvfs.Start(ctx, gvfs.WithFuse, log)
	if err != nil {
		t.Fatalf("Start: %v\n%s", err, log.String())
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Stop()
		}
	})
	if !mountinfo.Mounted(s.FuseDir()) {
		t.Errorf("%s not mounted after Start", s.FuseDir())
	}
	if _, err := s.Gio(ctx, "mount", "-l"); err != nil {
		t.Errorf("gio on the session bus: %v", err)
	}
	session := "XDG_RUNTIME_DIR=" + s.Runtime
	if len(proc.WithEnv(session)) == 0 {
		t.Fatal("no process of the session found while it runs")
	}
	err = s.Stop()
	stopped = true
	if err != nil {
		t.Fatalf("Stop: %v\n%s", err, log.String())
	}
	if pids := proc.WithEnv(session); len(pids) > 0 {
		t.Errorf("processes left after Stop: %v", pids)
	}
	if mountinfo.Mounted(s.FuseDir()) {
		t.Errorf("%s still mounted after Stop", s.FuseDir())
	}
	if _, err := os.Stat(s.Runtime); !os.IsNotExist(err) {
		t.Errorf("session dir %s after Stop: %v", s.Runtime, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if !strings.Contains(log.String(), "$ gio mount -l") {
		t.Errorf("gio call missing from the session log:\n%s", log.String())
	}
}
