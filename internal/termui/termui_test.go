package termui

import (
	"os"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	t.Parallel()
	cols := []Column{{Head: "NAME"}, {Head: "SIZE", Align: Right}, {Head: "NOTE"}}
	got := Table(cols, []Row{
		{Cells: []string{"漢字.bin", "1 B", ""}},
		{Cells: []string{"a", "10.0 MiB", "x"}, Note: "└ failed"},
	})
	want := []string{
		"NAME          SIZE  NOTE",
		"漢字.bin       1 B",
		"a         10.0 MiB  x",
		"  └ failed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTableEscapesControls: text a server or an origin chose (a file's
// error note, a cell) reaches the terminal with its control, format and
// line-separator characters written as escapes, and columns still align
// on what is printed.
func TestTableEscapesControls(t *testing.T) {
	t.Parallel()
	cols := []Column{{Head: "NAME"}, {Head: "STATE"}}
	got := Table(cols, []Row{
		{Cells: []string{"a\x1b[2J", "error"}, Note: "└ origin answered 500 \x1b]0;pwned\x07\u009b31m\r\nfake line"},
		{Cells: []string{"b", "idle"}},
	})
	want := []string{
		`NAME      STATE`,
		`a\x1b[2J  error`,
		`  └ origin answered 500 \x1b]0;pwned\a\u009b31m\r\nfake line`,
		`b         idle`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		style       BarStyle
		done, total int64
		want        string
	}{
		{ASCII, 0, 100, "[--------]"},
		{ASCII, 50, 100, "[===>----]"},
		{ASCII, 100, 100, "[========]"},
		{ASCII, 5, 0, "[--------]"},     // size not known yet
		{ASCII, 200, 100, "[========]"}, // never past full
		{Blocks, 50, 100, "█████░░░░░"},
	}
	for _, tc := range tests {
		if got := Bar(tc.style, 10, tc.done, tc.total); got != tc.want {
			t.Errorf("Bar(%v, %d/%d) = %q, want %q", tc.style, tc.done, tc.total, got, tc.want)
		}
	}
}

func TestNotATerminal(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a file is a terminal")
	}
	if _, ok := NewScreen(f); ok {
		t.Error("NewScreen on a file")
	}
}

func TestMiddle(t *testing.T) {
	tests := []struct {
		s     string
		width int
		want  string
	}{
		{"short.bin", 20, "short.bin"},
		{"films/summer holiday one.mp4", 16, "films/su…one.mp4"},
		{"abcdef", 5, "ab…ef"},
		{"漢字漢字漢字.bin", 9, "漢字….bin"},
		{"abc", 1, "…"},
	}
	for _, tc := range tests {
		got := Middle(tc.s, tc.width)
		if got != tc.want || Width(got) > tc.width {
			t.Errorf("Middle(%q, %d) = %q (width %d), want %q", tc.s, tc.width, got, Width(got), tc.want)
		}
	}
}

func TestTableNotes(t *testing.T) {
	got := Table([]Column{{Head: "A"}}, []Row{{Cells: []string{"x"}, Notes: []string{"one", "two\x1b[31m"}}})
	want := "A\nx\n  one\n  two\\x1b[31m"
	if strings.Join(got, "\n") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
