package contrib

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fsm/internal/fsmtest"
)

// buildFsm builds the real binary once per test that needs it.
func buildFsm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fsm")
	build := exec.Command("go", "build", "-o", bin, "fsm/cmd/fsm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building fsm: %v\n%s", err, out)
	}
	return bin
}

// checkArgs runs fsm with args plus --help: kong refuses an unknown
// command or flag before it prints the help, so exit 0 means every flag a
// contrib file passes exists.
func checkArgs(t *testing.T, bin string, args []string) {
	t.Helper()
	cmd := exec.Command(bin, append(slices.Clone(args), "--help")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("fsm %s --help: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Every file runs the same command: serve, mounted, with an explicit cache
// dir (the dir is what makes a restart resume).
var wantArgs = []string{"serve", "--mount", "--cache-dir"}

func hasWantArgs(args []string) bool {
	return len(args) > len(wantArgs) && slices.Equal(args[:len(wantArgs)], wantArgs)
}

// unitExecStart returns the unit's ExecStart words.
func unitExecStart(t *testing.T, unit []byte) []string {
	t.Helper()
	for line := range strings.Lines(string(unit)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatal("the unit has no ExecStart=")
	return nil
}

func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("systemd/fsm.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "Restart=on-failure", "WantedBy=default.target"} {
		if !bytes.Contains(unit, []byte("\n"+want+"\n")) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	exec0 := unitExecStart(t, unit)
	if exec0[0] != "%h/.local/bin/fsm" || !hasWantArgs(exec0[1:]) || !strings.HasPrefix(exec0[4], "%C/") {
		t.Errorf("ExecStart=%s, want %%h/.local/bin/fsm %s %%C/...", strings.Join(exec0, " "), strings.Join(wantArgs, " "))
	}

	_, err = exec.LookPath("systemd-analyze")
	fsmtest.Require(t, "systemd-analyze", err)
	bin := buildFsm(t)
	checkArgs(t, bin, slices.Concat(exec0[1:4], []string{filepath.Join(t.TempDir(), "cache")}))

	// A copy whose ExecStart is the binary just built: verify checks that
	// the command exists and is executable.
	dir := t.TempDir()
	unitCopy := filepath.Join(dir, "fsm.service")
	if err := os.WriteFile(unitCopy, bytes.Replace(unit, []byte("%h/.local/bin/fsm"), []byte(bin), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	// --user needs a runtime dir even to only load units; a private one
	// keeps the check off any real user manager.
	runtime := filepath.Join(dir, "runtime")
	if err := os.Mkdir(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command("systemd-analyze", "verify", "--user", "--man=no", unitCopy)
	verify.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime)
	var out bytes.Buffer
	verify.Stdout, verify.Stderr = &out, &out
	err = verify.Run()
	// verify exits 0 after a bad setting ("Failed to parse ..., ignoring"),
	// so any output at all is a failure too.
	if err != nil || out.Len() != 0 {
		t.Errorf("systemd-analyze verify --user %s: %v\n%s", unitCopy, err, out.String())
	}
}

// plistValue returns the strings of the value that follows key in a
// property list's top dict: one for a <string>, each of an <array>'s.
func plistValue(t *testing.T, plist []byte, key string) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(plist))
	dec.Strict = true
	var (
		text     string
		strs     []string
		afterKey bool // the last </key> named key
		depth    int  // inside the value: how many of its elements are open
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			t.Fatalf("the plist has no %s", key)
		}
		if err != nil {
			t.Fatalf("the plist is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.CharData:
			text = string(tok)
		case xml.StartElement:
			text = ""
			if afterKey || depth > 0 {
				afterKey = false
				depth++
			}
		case xml.EndElement:
			if depth == 0 {
				afterKey = tok.Name.Local == "key" && text == key
				continue
			}
			if tok.Name.Local == "string" {
				strs = append(strs, text)
			}
			if depth--; depth == 0 {
				return strs
			}
		}
	}
}

func TestLaunchdAgent(t *testing.T) {
	const path = "launchd/com.example.fsm.plist"
	plist, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	label := plistValue(t, plist, "Label")
	if want := strings.TrimSuffix(filepath.Base(path), ".plist"); len(label) != 1 || label[0] != want {
		t.Errorf("Label %q, want %q (launchctl finds the agent by the label)", label, want)
	}
	args := plistValue(t, plist, "ProgramArguments")
	if len(args) < 2 || !filepath.IsAbs(args[0]) || !hasWantArgs(args[1:]) {
		t.Fatalf("ProgramArguments %q, want an absolute fsm path and %s DIR", args, strings.Join(wantArgs, " "))
	}
	checkArgs(t, buildFsm(t), args[1:])
}

func TestWindowsTask(t *testing.T) {
	md, err := os.ReadFile("windows/fsm-task.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`schtasks /Create /TN fsm /SC ONLOGON`,
		`fsm.exe\" serve --mount --cache-dir \"%LOCALAPPDATA%\fsm\"`,
		"-Argument \"serve --mount --cache-dir `\"$env:LOCALAPPDATA\\fsm`\"\"",
	} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("fsm-task.md lacks %s", want)
		}
	}
}
