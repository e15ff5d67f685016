package fsmtest

import (
	"os"
	"testing"
)

// Require skips the test when a prerequisite (FUSE, a client binary, root)
// is missing, and fails it instead when the CI environment variable is
// set: there, every test is meant to run. A nil err returns at once.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s unavailable under CI: %v", what, err)
	}
	t.Skipf("%s unavailable: %v", what, err)
}
