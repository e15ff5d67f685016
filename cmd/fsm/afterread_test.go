package main

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// serve --after-read evict, a file staged with stage --after-read unstage,
// and one read only in part: each file read whole gets its action after
// the delay (one log line and an after_read event each), the evicted one
// stays staged and reads again, and the one read in part keeps its bytes.
func TestAfterReadServe(t *testing.T) {
	c := testorigin.Content{Seed: 71, Size: 400_000}
	whole := testorigin.New(t, testorigin.Options{Content: c, Name: "/whole.bin"})
	part := testorigin.New(t, testorigin.Options{Content: c, Name: "/part.bin"})
	gone := testorigin.New(t, testorigin.Options{Content: c, Name: "/gone.bin"})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e, "--after-read", "evict", "--after-read-delay", "200ms", whole.URL(), part.URL())
	s.waitState(t, "whole.bin", "idle")
	s.waitState(t, "part.bin", "idle")
	if r := e.fsm(t, addr, nil, "stage", "--after-read", "unstage", gone.URL()); r.code != 0 {
		t.Fatalf("stage --after-read unstage:\n%s", r)
	}
	if obj := s.waitState(t, "gone.bin", "idle"); obj["after_read"] != "unstage" {
		t.Fatalf("gone.bin after_read %v", obj["after_read"])
	}
	if obj := s.waitState(t, "part.bin", "idle"); obj["after_read"] != "evict" {
		t.Fatalf("part.bin after_read %v (the server's --after-read)", obj["after_read"])
	}
	ls := e.fsm(t, addr, nil, "ls")
	if !strings.Contains(ls.stdout, "idle (then unstage)") || !strings.Contains(ls.stdout, "idle (then evict)") {
		t.Errorf("ls does not show the after-read actions:\n%s", ls)
	}

	resp, err := http.Get(s.url + ".fsm/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	actions := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		kind := ""
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				kind = k
			} else if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && kind == "after_read" {
				actions <- d
			}
		}
	}()

	// The part first: had it been armed, its action would come first.
	if r, b := get(t, s.url+"part.bin", "Range", "bytes=0-99999"); r.StatusCode != 206 || !bytes.Equal(b, c.Bytes(0, 100_000)) {
		t.Fatalf("range GET part.bin: %s", r.Status)
	}
	for _, name := range []string{"whole.bin", "gone.bin"} {
		if r, b := get(t, s.url+name); r.StatusCode != 200 || !bytes.Equal(b, c.Bytes(0, c.Size)) {
			t.Fatalf("GET %s: %s", name, r.Status)
		}
	}
	want := map[string]bool{
		`{"name":"whole.bin","action":"evict","bytes":400000}`:  true,
		`{"name":"gone.bin","action":"unstage","bytes":400000}`: true,
	}
	for range want {
		select {
		case d := <-actions:
			if !want[d] {
				t.Fatalf("after_read event %s; want one of %v", d, want)
			}
			delete(want, d)
		case <-time.After(30 * time.Second):
			t.Fatalf("no after_read event; missing %v\n%s", want, s.log)
		}
	}
	if obj := s.waitState(t, "whole.bin", "idle"); obj["downloaded"] != float64(0) {
		t.Errorf("whole.bin after evict: %v", obj)
	}
	if r, b := get(t, s.url+".fsm/api/v1/files/gone.bin"); r.StatusCode != 404 {
		t.Errorf("gone.bin after unstage: %s %s\nserver log:\n%s", r.Status, b, s.log)
	}
	if _, b := get(t, s.url+".fsm/api/v1/files/part.bin"); !strings.Contains(string(b), `"after_read":"evict"`) || strings.Contains(string(b), `"downloaded":0,`) {
		t.Errorf("part.bin, read in part, lost its bytes: %s", b)
	}
	// Checked before whole.bin is read again, which arms its eviction anew.
	// The log comes through its own pipe, not the events stream.
	fsmtest.Eventually(t, "both actions logged", func() bool {
		l := s.log.String()
		return strings.Contains(l, "after read: evicted") && strings.Contains(l, "after read: unstaged")
	})
	log := s.log.String()
	for _, line := range []string{"after read: evicted", "after read: unstaged"} {
		if n := strings.Count(log, line); n != 1 {
			t.Errorf("%d lines %q, want 1:\n%s", n, line, log)
		}
	}
	if strings.Contains(log, "name=part.bin after_read") {
		t.Errorf("an action on the file read in part:\n%s", log)
	}
	before := whole.BytesServed()
	if r, b := get(t, s.url+"whole.bin"); r.StatusCode != 200 || !bytes.Equal(b, c.Bytes(0, c.Size)) || whole.BytesServed() == before {
		t.Fatalf("GET whole.bin after evict: %s, downloaded again: %v", r.Status, whole.BytesServed() != before)
	}
}
