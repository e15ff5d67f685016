package awake

import (
	"testing"

	"go.uber.org/goleak"
)

// Every keeper's goroutine, bus connection and fake's reader must be gone
// when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
