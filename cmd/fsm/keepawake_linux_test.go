package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fsm/control/api"
	"fsm/internal/fakelogind"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// keepAwakeInfo is GET info's keep_awake.
func keepAwakeInfo(t *testing.T, s *server) api.KeepAwake {
	t.Helper()
	resp, err := http.Get(s.url + ".fsm/api/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in api.Info
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatal(err)
	}
	return in.KeepAwake
}

// transfer reads the whole of name while the origin holds its GETs until
// during has run, then checks the bytes.
func transfer(t *testing.T, s *server, o *testorigin.Origin, c testorigin.Content, name string, during func()) {
	t.Helper()
	release := o.Block()
	defer release()
	got := make(chan []byte, 1)
	go func() {
		resp, err := http.Get(s.url + name)
		if err != nil {
			got <- nil
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- b
	}()
	fsmtest.Eventually(t, "the download held by the origin", func() bool { return o.Waiting() > 0 })
	during()
	release()
	if b := <-got; !bytes.Equal(b, c.Bytes(0, c.Size)) {
		t.Fatalf("GET %s: %d bytes, not the origin's", name, len(b))
	}
}

// The real binary against a fake logind on a bus of the test's: no lock
// while idle, one while a download runs (info says why), released within
// 30 s after it ends; none at all with --keep-awake=false; and without a
// bus, one info line and transfers as usual.
func TestKeepAwake(t *testing.T) {
	c := testorigin.Content{Seed: 41, Size: 2 << 20}

	t.Run("held during a transfer, none idle", func(t *testing.T) {
		addr := fakelogind.StartBus(t)
		logind := fakelogind.Start(t, addr, "")
		o := testorigin.New(t, testorigin.Options{Content: c, Name: "/up.bin"})
		s := startServe(t, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + addr}, "--cache-dir", t.TempDir(), o.URL())
		s.waitState(t, "up.bin", "idle")
		if ka := keepAwakeInfo(t, s); ka.Active {
			t.Fatalf("idle: keep_awake %+v", ka)
		}
		logind.NoMoreCalls(t)
		var in *fakelogind.Inhibition
		transfer(t, s, o, c, "up.bin", func() {
			in = logind.Next(t)
			if !strings.Contains(in.What, "sleep") || in.Who != "fsm" {
				t.Errorf("Inhibit what=%q who=%q", in.What, in.Who)
			}
			fsmtest.Eventually(t, "info saying 1 transfer", func() bool {
				ka := keepAwakeInfo(t, s)
				return ka.Active && ka.Reason == "1 transfer"
			})
		})
		ended := time.Now()
		if d := fakelogind.WaitReleased(t, in).Sub(ended); d > 30*time.Second {
			t.Errorf("released %v after the transfer ended; want at most 30 s", d)
		}
		fsmtest.Eventually(t, "info inactive again", func() bool { return !keepAwakeInfo(t, s).Active })
		logind.NoMoreCalls(t)
		if code := s.stop(t); code != 0 {
			t.Fatalf("exit %d:\n%s", code, s.log)
		}
	})

	t.Run("off with --keep-awake=false", func(t *testing.T) {
		addr := fakelogind.StartBus(t)
		logind := fakelogind.Start(t, addr, "")
		o := testorigin.New(t, testorigin.Options{Content: c, Name: "/up.bin"})
		s := startServe(t, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + addr}, "--cache-dir", t.TempDir(), "--keep-awake=false", o.URL())
		s.waitState(t, "up.bin", "idle")
		transfer(t, s, o, c, "up.bin", func() {
			// The count is still kept while off: wait for it to see the
			// transfer, so a lock it would take has had its chance.
			fsmtest.Eventually(t, "the transfer counted", func() bool { return s.hasFile(t, "up.bin", "downloading") })
			if ka := keepAwakeInfo(t, s); ka.Active || ka.Reason != "off" {
				t.Errorf("keep_awake %+v, want inactive, off", ka)
			}
		})
		if code := s.stop(t); code != 0 {
			t.Fatalf("exit %d:\n%s", code, s.log)
		}
		logind.NoMoreCalls(t)
	})

	t.Run("no bus", func(t *testing.T) {
		o := testorigin.New(t, testorigin.Options{Content: c, Name: "/up.bin"})
		s := startServe(t, nil, "--cache-dir", t.TempDir(), o.URL()) // hermeticEnv's bus does not exist
		s.waitState(t, "up.bin", "idle")
		transfer(t, s, o, c, "up.bin", func() {
			fsmtest.Eventually(t, "the one line saying so", func() bool {
				return strings.Contains(s.log.String(), "cannot keep the computer awake")
			})
			if ka := keepAwakeInfo(t, s); ka.Active || ka.Reason == "" {
				t.Errorf("keep_awake %+v, want inactive with the reason", ka)
			}
		})
		if code := s.stop(t); code != 0 {
			t.Fatalf("exit %d:\n%s", code, s.log)
		}
		if n := strings.Count(s.log.String(), "cannot keep the computer awake"); n != 1 {
			t.Errorf("said %d times:\n%s", n, s.log)
		}
	})
}

// hasFile reports whether the API lists name in state.
func (s *server) hasFile(t *testing.T, name, state string) bool {
	t.Helper()
	resp, err := http.Get(s.url + ".fsm/api/v1/files/" + name)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var obj api.File
	json.NewDecoder(resp.Body).Decode(&obj)
	return obj.State == state
}
