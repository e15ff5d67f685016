package main

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"fsm/internal/fsmtest"
)

// bashComplete loads `fsm completion SHELL` into bash (zsh's script is
// bash's behind bashcompinit, so bash runs the same function) and returns
// the candidates for the words of a command line whose last word is being
// completed.
func bashComplete(t *testing.T, script string, words ...string) []string {
	t.Helper()
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shellQuote(w)
		if w == "" {
			quoted[i] = "''"
		}
	}
	prog := script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_fsm\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	out, err := exec.Command("bash", "--norc", "--noprofile", "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestCompletionBash(t *testing.T) {
	_, err := exec.LookPath("bash")
	fsmtest.Require(t, "bash", err)
	code, script, stderr := runSplit(t, bin, "", nil, "completion", "bash")
	if code != 0 || stderr != "" {
		t.Fatalf("fsm completion bash: exit %d\n%s", code, stderr)
	}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"fsm", "s"}, []string{"serve", "stage"}},
		{[]string{"fsm", "ls", "--w"}, []string{"--watch"}},
		{[]string{"fsm", "ls", "--a"}, []string{"--addr"}},
		{[]string{"fsm", "serve", "--log-format", ""}, []string{"auto", "text", "json"}},
		{[]string{"fsm", "serve", "--tls"}, []string{"--tls-cert", "--tls-key"}},
		{[]string{"fsm", "help", "e"}, []string{"environment"}},
		{[]string{"fsm", "completion", ""}, []string{"bash", "zsh", "fish", "--help", "-h", "--version"}},
		{[]string{"fsm", "serve", "--cache-dir", "/nonexistent-dir/x"}, nil}, // files, of which there are none
	} {
		got := bashComplete(t, script, c.words...)
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q: got %q, want %q", c.words, got, c.want)
		}
	}
}

// zsh and fish get scripts naming the same commands and flags.
func TestCompletionZshFish(t *testing.T) {
	for shell, wants := range map[string][]string{
		"zsh":  {"#compdef fsm", "bashcompinit", "complete -o default -F _fsm fsm", "--tls-cert"},
		"fish": {"complete -c fsm -n __fish_use_subcommand -a serve", "complete -c fsm -n '__fish_seen_subcommand_from serve' -l log-format -x -a 'auto text json'", "-l verbose -s v"},
	} {
		code, script, stderr := runSplit(t, bin, "", nil, "completion", shell)
		if code != 0 || stderr != "" {
			t.Fatalf("fsm completion %s: exit %d\n%s", shell, code, stderr)
		}
		for _, w := range wants {
			if !strings.Contains(script, w) {
				t.Errorf("%s script lacks %q:\n%s", shell, w, script)
			}
		}
	}
	if code, _, stderr := runSplit(t, bin, "", nil, "completion", "tcsh"); code != 2 || !strings.Contains(stderr, "bash") {
		t.Errorf("completion tcsh: exit %d, %q", code, stderr)
	}
}

// fsm help environment lists every flag's variable, from the model.
func TestHelpTopics(t *testing.T) {
	code, out, _ := runSplit(t, bin, "", nil, "help", "environment")
	// The columns are as wide as the longest flag: match any run of blanks.
	for _, w := range []string{`--tls-cert +FSM_TLS_CERT`, `--log-file +FSM_LOG_FILE`, `--server, --addr +FSM_ADDR`, `--keep-awake +FSM_KEEP_AWAKE`, `have none: `, `-v, -q`, `--json`} {
		if code != 0 || !regexp.MustCompile(w).MatchString(out) {
			t.Errorf("help environment lacks %q:\n%s", w, out)
		}
	}
	if code, out, _ := runSplit(t, bin, "", nil, "help", "states"); code != 0 || !strings.Contains(out, "downloading  bytes are arriving") {
		t.Errorf("help states: exit %d\n%s", code, out)
	}
}
