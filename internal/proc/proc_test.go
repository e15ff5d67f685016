package proc

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestWithEnv(t *testing.T) {
	t.Parallel()
	kv := "FSM_PROC_TEST=" + t.Name()
	cmd := exec.Command("sleep", "30")
	cmd.Env = append(os.Environ(), kv)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := WithEnv(kv); !slices.Equal(got, []int{cmd.Process.Pid}) {
		t.Errorf("WithEnv while running: %v, want [%d]", got, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if got := WithEnv(kv); len(got) != 0 {
		t.Errorf("WithEnv after exit: %v, want none", got)
	}
}
