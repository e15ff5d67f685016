package store

import (
	"context"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
)

// spliceConn is a TCP connection that can splice an armed read into a file
// (see splice.go).
type spliceConn struct {
	*net.TCPConn
	// armed is set by the copy loop around one body read; Read runs in
	// the same goroutine then (net/http reads a body in its caller's).
	armed atomic.Pointer[spliceTarget]
}

// splicePipe carries the bytes of one fetch from socket to file. It
// belongs to the fetch, not the connection, so an idle connection holds
// no descriptors beyond its socket, and it is closed by the goroutine that
// splices through it, never under a running splice.
type splicePipe struct {
	r, w int
}

const (
	// splicePipeSize is the pipe's capacity: one splice moves up to a
	// copy buffer's worth.
	splicePipeSize = 256 << 10
	// spliceMin mirrors the copy loop's ReadAtLeast: a read waits for
	// this much (or the body's end) rather than returning every segment.
	spliceMin = 64 << 10

	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
)

func newSplicePipe() (*splicePipe, error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// Best effort: a smaller pipe only means more splices.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(p[1]), syscall.F_SETPIPE_SZ, splicePipeSize)
	return &splicePipe{r: p[0], w: p[1]}, nil
}

func (p *splicePipe) close() {
	syscall.Close(p.r)
	syscall.Close(p.w)
}

// spliceDialer dials with d and wraps TCP connections so they can splice.
func spliceDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			return &spliceConn{TCPConn: tc}, nil
		}
		return c, nil
	}
}

func (c *spliceConn) arm(t *spliceTarget) { c.armed.Store(t) }
func (c *spliceConn) disarm()             { c.armed.Store(nil) }

func (c *spliceConn) Read(p []byte) (int, error) {
	t := c.armed.Load()
	if t == nil || len(p) == 0 || len(t.buf) == 0 || &p[0] != &t.buf[0] {
		return c.TCPConn.Read(p)
	}
	n, err := c.spliceTo(t, len(p))
	t.spliced += n
	return n, err
}

// spliceTo moves up to n bytes from the socket into t's file, waiting until
// at least min(n, spliceMin) came or the origin ended or failed.
func (c *spliceConn) spliceTo(t *spliceTarget, n int) (done int, err error) {
	rc, err := c.TCPConn.SyscallConn()
	if err != nil {
		return 0, err
	}
	want := min(n, spliceMin)
	for done < want {
		var got int
		var serr error
		err := rc.Read(func(fd uintptr) bool {
			m, e := syscall.Splice(int(fd), nil, t.pipe.w, nil, n-done, spliceMove|spliceNonblock)
			for e == syscall.EINTR {
				m, e = syscall.Splice(int(fd), nil, t.pipe.w, nil, n-done, spliceMove|spliceNonblock)
			}
			if e == syscall.EAGAIN {
				// Nothing to read yet: return what came, or wait.
				return done > 0
			}
			got, serr = int(m), e
			return true
		})
		if err == nil && serr != nil {
			err = os.NewSyscallError("splice", serr)
		}
		if err != nil {
			// As a read error of the connection would say it.
			err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
		}
		if got > 0 {
			if werr := drain(t, int64(done), got); werr != nil {
				// The pipe may hold bytes that belong nowhere now, and
				// the body is short of them: the connection is spent,
				// and the fetch ends (and closes the pipe) on fileErr.
				t.fileErr = werr
				c.TCPConn.Close()
				return done, werr
			}
			done += got
		}
		switch {
		case err != nil:
			return done, err
		case got == 0 && done > 0:
			return done, nil // drained the socket after some bytes
		case got == 0:
			return done, io.EOF
		}
	}
	return done, nil
}

// drain moves m bytes from the pipe into t's file at t.off+at.
func drain(t *spliceTarget, at int64, m int) error {
	raw, err := t.file.SyscallConn()
	if err != nil {
		return err
	}
	off := t.off + at
	for m > 0 {
		var k int64
		var e error
		if err := raw.Write(func(fd uintptr) bool {
			for {
				k, e = syscall.Splice(t.pipe.r, nil, int(fd), &off, m, spliceMove)
				if e != syscall.EINTR {
					return true
				}
			}
		}); err != nil {
			return err
		}
		switch {
		case e != nil:
			return &os.PathError{Op: "splice", Path: t.file.Name(), Err: e}
		case k <= 0:
			return &os.PathError{Op: "splice", Path: t.file.Name(), Err: io.ErrShortWrite}
		}
		m -= int(k)
	}
	return nil
}
