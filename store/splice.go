package store

import (
	"os"
	"syscall"
)

// A plain-http body can reach the temp file by splice(2) instead of a read
// and a write through a user buffer: socket to pipe moves page references,
// pipe to file copies once, into the page cache. Read plus write copy every
// byte twice, and on a fast origin that second copy is a sizable part of
// fsm's CPU per GiB.
//
// net/http keeps its connections to itself, so the splice happens below it
// (splice_linux.go): the origin client's dialer wraps each TCP connection
// in one that can splice. Before a body read, the copy loop arms the
// connection with its buffer and the file offset of that buffer's byte 0.
// net/http hands a read larger than its bufio.Reader's buffer straight to
// the connection, with that very buffer; the connection then splices the
// bytes into the file instead of filling the buffer, and counts them. Any
// other read (response headers, bufio's own refills, TLS records, reads
// with another buffer) is an ordinary read. So the only buffer ever left
// unfilled is the copy loop's own, and only for the bytes the connection
// reports as spliced; the copy loop writes the rest itself, as before.
// Bodies net/http transforms (chunked, decompressed) and whole-body streams
// (whose bytes are compared and checksummed) are never spliced.

// splicer is a connection that can take an armed read into a file.
type splicer interface {
	arm(t *spliceTarget) bool // false: splice is off here, read as usual
	disarm(t *spliceTarget)
}

// spliceTarget is where one fetch's armed reads go: file, through the
// fetch's own pipe. Each read sets buf (the copy loop's buffer, whose byte 0
// belongs at off in file) and gets back spliced and fileErr.
type spliceTarget struct {
	file *os.File
	raw  syscall.RawConn // file's, for the splices into it
	pipe *splicePipe

	buf     []byte
	off     int64
	spliced int   // bytes the read put into the file: its first ones
	fileErr error // the file refused them (ENOSPC, EIO): not the origin's fault
}

// newSpliceTarget makes the pipe for one fetch into file; close it when
// the fetch ends.
func newSpliceTarget(file *os.File) (*spliceTarget, error) {
	raw, err := file.SyscallConn()
	if err != nil {
		return nil, err
	}
	pipe, err := newSplicePipe()
	if err != nil {
		return nil, err
	}
	return &spliceTarget{file: file, raw: raw, pipe: pipe}, nil
}

func (t *spliceTarget) close() { t.pipe.close() }

// aim readies t for one read into buf, whose byte 0 belongs at off.
func (t *spliceTarget) aim(buf []byte, off int64) {
	t.buf, t.off, t.spliced, t.fileErr = buf, off, 0, nil
}
