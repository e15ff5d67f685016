package control_test

import (
	"encoding/json"
	"strings"
	"testing"

	"fsm/control"
	"fsm/control/api"
	"fsm/internal/testorigin"
)

// POST files takes after_read, the file object shows the policy that
// applies (the server's default when none was given), and a bad one is
// refused before anything is probed.
func TestStageAfterRead(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 2, Size: 1000}, Name: "/u.bin"})
	e := newEnv(t, control.Options{})
	tests := []struct {
		name, body string
		status     int
		want       string // after_read of the object, or a word of the error
	}{
		{"own policy", `{"url":"` + o.URL() + `","name":"a.bin","after_read":"unstage"}`, 201, "unstage"},
		{"evict", `{"url":"` + o.URL() + `","name":"b.bin","after_read":"evict"}`, 201, "evict"},
		{"the server's default", `{"url":"` + o.URL() + `","name":"c.bin"}`, 201, "keep"},
		{"unknown policy", `{"url":"` + o.URL() + `","name":"d.bin","after_read":"delete"}`, 400, "after_read"},
		{"not for a folder", `{"url":"` + o.URL() + `","folder":true,"after_read":"evict"}`, 400, "--after-read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			heads := o.Count("HEAD")
			st, _, b := e.do(t, call{method: "POST", path: "/.fsm/api/v1/files", body: tc.body})
			if st != tc.status {
				t.Fatalf("POST %s: %d %s; want %d", tc.body, st, b, tc.status)
			}
			if st != 201 {
				if !strings.Contains(string(b), tc.want) || o.Count("HEAD") != heads {
					t.Fatalf("refusal %s should name %q and probe nothing", b, tc.want)
				}
				return
			}
			var obj api.File
			if err := json.Unmarshal(b, &obj); err != nil || obj.AfterRead != tc.want {
				t.Fatalf("object %s: after_read %q, want %q (%v)", b, obj.AfterRead, tc.want, err)
			}
			_, _, b = e.do(t, call{method: "GET", path: "/.fsm/api/v1/files/" + obj.Name})
			if !strings.Contains(string(b), `"after_read":"`+tc.want+`"`) {
				t.Fatalf("GET %s: %s", obj.Name, b)
			}
		})
	}
}

// GET info carries keep_awake as the server reports it.
func TestInfoKeepAwake(t *testing.T) {
	tests := []struct {
		name string
		ka   func() api.KeepAwake
		want string
	}{
		{"not wired", nil, `"keep_awake":{"active":false,"reason":""}`},
		{"holding", func() api.KeepAwake { return api.KeepAwake{Active: true, Reason: "2 transfers"} }, `"keep_awake":{"active":true,"reason":"2 transfers"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, control.Options{KeepAwake: tc.ka})
			st, _, b := e.do(t, call{method: "GET", path: "/.fsm/api/v1/info"})
			if st != 200 || !strings.Contains(string(b), tc.want) {
				t.Fatalf("info: %d %s; want %s", st, b, tc.want)
			}
		})
	}
}

// The refusal of a wrong token says what to send and that a restarted fsm
// has a new token; it names no file of fsm's source (a user has none).
func TestUnauthorizedMessage(t *testing.T) {
	e := newEnv(t, control.Options{})
	st, _, b := e.do(t, call{method: "DELETE", path: "/.fsm/api/v1/files/x", noToken: true})
	var ae api.Error
	if err := json.Unmarshal(b, &ae); err != nil || st != 401 {
		t.Fatalf("%d %s (%v)", st, b, err)
	}
	if strings.Contains(ae.Error, ".md") || strings.Contains(ae.Error, "docs/") || !strings.Contains(ae.Error, "restarted") {
		t.Fatalf("401 message %q: want one naming no repository file and the restart", ae.Error)
	}
}
