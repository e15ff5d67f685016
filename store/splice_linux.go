package store

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// splicing is what the connections of one dialer share: whether splice
// works here at all, and the call that moves bytes from pipe to file.
type splicing struct {
	// off is set once a splice failed as unsupported (a file system
	// without splice_write, a seccomp filter): from then on every read is
	// an ordinary one.
	off atomic.Bool
	// toFile splices n bytes from pipe into the file fd at *off; tests
	// replace it to make the file fail.
	toFile func(pipe, fd int, off *int64, n int) (int64, error)
}

func spliceToFile(pipe, fd int, off *int64, n int) (int64, error) {
	for {
		k, err := unix.Splice(pipe, nil, fd, off, n, unix.SPLICE_F_MOVE)
		if err != unix.EINTR {
			return k, err
		}
	}
}

// unsupported reports whether err says splice cannot be used here, as
// opposed to the socket or the file failing.
func unsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) ||
		errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EXDEV)
}

// spliceConn is a TCP connection that can splice an armed read into a file
// (see splice.go).
type spliceConn struct {
	*net.TCPConn
	raw syscall.RawConn // the socket's, taken once at dial
	sp  *splicing
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
)

func newSplicePipe() (*splicePipe, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// Best effort: a smaller pipe only means more splices.
	_, _ = unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, splicePipeSize)
	return &splicePipe{r: p[0], w: p[1]}, nil
}

func (p *splicePipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// spliceDialer dials with d and wraps TCP connections so they can splice.
func spliceDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&splicing{toFile: spliceToFile}).dialer(d)
}

func (sp *splicing) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			if raw, err := tc.SyscallConn(); err == nil {
				return &spliceConn{TCPConn: tc, raw: raw, sp: sp}, nil
			}
		}
		return c, nil
	}
}

func (c *spliceConn) arm(t *spliceTarget) bool {
	if c.sp.off.Load() {
		return false
	}
	c.armed.Store(t)
	return true
}

// disarm clears t only: the connection may already be back in the idle
// pool (net/http returns it on the body's EOF) and armed by another fetch.
func (c *spliceConn) disarm(t *spliceTarget) { c.armed.CompareAndSwap(t, nil) }

func (c *spliceConn) Read(p []byte) (int, error) {
	t := c.armed.Load()
	if t == nil || len(p) == 0 || len(t.buf) == 0 || &p[0] != &t.buf[0] {
		return c.TCPConn.Read(p)
	}
	return c.spliceTo(t, p)
}

// spliceTo moves up to len(p) bytes from the socket into t's file, waiting
// until at least min(len(p), spliceMin) came or the origin ended or failed.
// The first t.spliced bytes of what it returns are in the file; any after
// them are in p (after splice turned out unsupported mid-read).
func (c *spliceConn) spliceTo(t *spliceTarget, p []byte) (done int, err error) {
	n := len(p)
	want := min(n, spliceMin)
	for done < want {
		var got int
		var serr error
		err := c.raw.Read(func(fd uintptr) bool {
			m, e := unix.Splice(int(fd), nil, t.pipe.w, nil, n-done, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			for e == unix.EINTR {
				m, e = unix.Splice(int(fd), nil, t.pipe.w, nil, n-done, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			}
			if e == unix.EAGAIN {
				return false // wait for more: the loop ends at want
			}
			got, serr = int(m), e
			return true
		})
		if err == nil && serr != nil {
			if unsupported(serr) {
				c.sp.off.Store(true)
				if done > 0 {
					return done, nil
				}
				return c.TCPConn.Read(p) // nothing consumed: an ordinary read
			}
			err = os.NewSyscallError("splice", serr)
		}
		if err != nil {
			// As a read error of the connection would say it.
			err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
		}
		if got > 0 {
			if werr := c.drain(t, done, got); werr != nil {
				if unsupported(werr) {
					// Nothing went to the file: take the bytes out of the
					// pipe into p, where the copy loop writes them.
					c.sp.off.Store(true)
					if _, rerr := io.ReadFull(pipeReader(t.pipe.r), p[done:done+got]); rerr == nil {
						return done + got, nil
					}
				}
				// The pipe may hold bytes that belong nowhere now, and
				// the body is short of them: the connection is spent,
				// and the fetch ends (and closes the pipe) on fileErr.
				t.fileErr = werr
				c.TCPConn.Close()
				return done, werr
			}
			done += got
			t.spliced = done
		}
		switch {
		case err != nil:
			return done, err
		case got == 0:
			if done > 0 {
				return done, nil // the body's end: EOF comes next
			}
			return done, io.EOF
		}
	}
	return done, nil
}

// drain moves m bytes from the pipe into t's file at t.off+at. It fails
// without moving any when the file system cannot take splices.
func (c *spliceConn) drain(t *spliceTarget, at, m int) error {
	off := t.off + int64(at)
	for m > 0 {
		var k int64
		var e error
		if err := t.raw.Write(func(fd uintptr) bool {
			k, e = c.sp.toFile(t.pipe.r, int(fd), &off, m)
			return true
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

// pipeReader reads the pipe's read end (non-blocking; the bytes are there).
type pipeReader int

func (r pipeReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(r), p)
	if err != nil {
		return 0, os.NewSyscallError("read pipe", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
