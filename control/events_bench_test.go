//go:build unix

package control_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"fsm/control"
	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

// BenchmarkIdleEventStreams: streams × files, none of which changes. One op
// is one tick of the server; cpu-µs/tick is the process's CPU time (user
// and system) per tick, heap-KB the heap in use with every stream open.
// Idle streams should cost next to nothing per tick, whatever their number.
func BenchmarkIdleEventStreams(b *testing.B) {
	for _, tc := range []struct{ streams, files int }{
		{1, 300},
		{16, 300},
		{64, 300},
	} {
		b.Run(fmt.Sprintf("streams=%d/files=%d", tc.streams, tc.files), func(b *testing.B) {
			benchIdleStreams(b, tc.streams, tc.files)
		})
	}
}

func benchIdleStreams(b *testing.B, streams, files int) {
	quiet := slog.New(slog.DiscardHandler)
	const tick = 10 * time.Millisecond
	o := testorigin.New(b, testorigin.Options{Content: testorigin.Content{Seed: 9, Size: 1 << 20}})
	fsys, _ := fsmtest.Tree(b, store.Options{Logger: quiet})
	for i := range files {
		if _, err := fsys.Stage(context.Background(), vfs.Request{URL: o.URL(), Name: fmt.Sprintf("d/f%03d.bin", i)}); err != nil {
			b.Fatal(err)
		}
	}
	ctl := control.New(control.Options{FS: fsys, Token: token, Tick: tick, Logger: quiet})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = guard.Host(ctl, nil, srv.Listener.Addr().String())
	srv.Start()
	b.Cleanup(func() { ctl.Close(); srv.Close() })

	// Every stream is read to its end; each sends its first byte on
	// connected once the initial state arrived.
	connected := make(chan error, streams)
	for range streams {
		go func() {
			resp, err := http.Get(srv.URL + control.EventsPath)
			if err != nil {
				connected <- err
				return
			}
			defer resp.Body.Close()
			if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
				connected <- err
				return
			}
			connected <- nil
			io.Copy(io.Discard, resp.Body)
		}()
	}
	for range streams {
		if err := <-connected; err != nil {
			b.Fatal(err)
		}
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := cpuTime(b)
	b.ResetTimer()
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for range b.N {
		<-tk.C
	}
	b.StopTimer()
	cpu := cpuTime(b) - before
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/tick")
	b.ReportMetric(float64(ms.HeapInuse)/1024, "heap-KB")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
