package main

import (
	"testing"

	"fsm/control/api"
)

// TestStageHint: the CLI's flag hints come from the answer's code alone.
func TestStageHint(t *testing.T) {
	for _, c := range []struct {
		code  api.Code
		named bool
		want  string
	}{
		{api.CodeNoName, false, " (pass --name NAME)"},
		{api.CodeNoName, true, ""},
		{api.CodeNameTaken, false, " (unstage it with fsm unstage, or pass --name NAME)"},
		{api.CodeNameTaken, true, " (unstage it with fsm unstage, or pass another --name NAME)"},
		{api.CodeBadName, false, ""},
		{"", false, ""},
	} {
		if got := stageHint(c.code, c.named); got != c.want {
			t.Errorf("stageHint(%q, %v) = %q, want %q", c.code, c.named, got, c.want)
		}
	}
}

// The staged line quotes a path with blanks as fsm ls does.
func TestStagedLine(t *testing.T) {
	size := int64(2_000_000)
	f := fileInfo{Name: "a b.bin", Size: &size, Paths: []string{"/f/a b.bin", "/g/x.bin"}}
	if got, want := stagedLine(f), "staged a b.bin (2.0 MB): '/f/a b.bin' /g/x.bin"; got != want {
		t.Errorf("stagedLine = %q, want %q", got, want)
	}
}
