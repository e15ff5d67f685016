//go:build fuse

package fuse

import (
	"log/slog"
	"os"
	"regexp"
	"testing"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// At debug level every open, read and release is one log line with its
// path, range, result and duration; at info there are none.
func TestTraceLines(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			var out fsmtest.Buffer
			log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))
			e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 41, Size: 1 << 20}}, Options{Logger: log})
			f, err := os.Open(e.path)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			if _, err := f.ReadAt(buf, 500_000); err != nil {
				t.Fatal(err)
			}
			f.Close()
			read := regexp.MustCompile(`msg="fuse request" op=read path=/` + fileName + ` offset=\d+ size=\d+ bytes=\d+ result=ok duration=\S+`)
			open := regexp.MustCompile(`msg="fuse request" op=open path=/` + fileName + ` result=ok duration=`)
			release := regexp.MustCompile(`msg="fuse request" op=release path=/` + fileName + ` result=ok duration=`)
			if level == slog.LevelDebug {
				// Release reaches fsm after close returns: the kernel
				// sends it on its own.
				fsmtest.Eventually(t, "open, read and release lines", func() bool {
					s := out.String()
					return read.MatchString(s) && open.MatchString(s) && release.MatchString(s)
				})
				return
			}
			if regexp.MustCompile(`fuse request`).MatchString(out.String()) {
				t.Errorf("request lines at info level:\n%s", out.String())
			}
		})
	}
}
