package store

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fpunchhole is the argument of fcntl(F_PUNCHHOLE) (sys/fcntl.h).
type fpunchhole struct {
	flags    uint32
	reserved uint32
	offset   int64
	length   int64
}

// punchBlock: APFS punches whole blocks only, so the range is cut inward
// to them; the bytes at its ragged ends stay on disk (they are released
// from the range set all the same).
const punchBlock = 4096

// punchHole frees the disk blocks of [off, off+n) of f, which then reads
// as zeros; the file keeps its size.
func punchHole(f *os.File, off, n int64) error {
	a := (off + punchBlock - 1) / punchBlock * punchBlock
	b := (off + n) / punchBlock * punchBlock
	if b <= a {
		return nil
	}
	arg := fpunchhole{offset: a, length: b - a}
	_, err := unix.FcntlInt(f.Fd(), unix.F_PUNCHHOLE, int(uintptr(unsafe.Pointer(&arg))))
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) {
		return errors.ErrUnsupported // not APFS
	}
	return err
}
