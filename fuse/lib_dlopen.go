//go:build fuse && (linux || darwin || freebsd)

package fuse

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// fsm_dlopen_error tries to load a library the way cgofuse will, and returns
// NULL when it loads or dlerror's message otherwise.
static char *fsm_dlopen_error(const char *name) {
	void *h = dlopen(name, RTLD_NOW);
	if (h != 0) {
		dlclose(h);
		return 0;
	}
	const char *e = dlerror();
	return (char *)(e ? e : "dlopen failed");
}

// fsm_fuse_version returns the library's fuse_version() (3.14 gives 314,
// 2.9 gives 29), or -1.
static int fsm_fuse_version(const char *name) {
	void *h = dlopen(name, RTLD_NOW);
	if (h == 0)
		return -1;
	int (*fn)(void) = (int (*)(void))dlsym(h, "fuse_version");
	int v = fn ? fn() : -1;
	dlclose(h);
	return v;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// libNames are the libraries cgofuse dlopens on this platform, in its order.
func libNames() []string {
	switch {
	case runtime.GOOS == "darwin":
		return []string{"/usr/local/lib/libfuse.2.dylib", "/usr/local/lib/libosxfuse.2.dylib", "/usr/local/lib/libfuse-t.dylib"}
	case isFuse3:
		return []string{"libfuse3.so.3"}
	default:
		return []string{"libfuse.so.2"}
	}
}

// checkLib reports, in one line, what to install when libfuse cannot load.
func checkLib() error {
	var reasons []string
	for _, name := range libNames() {
		cname := C.CString(name)
		msg := C.fsm_dlopen_error(cname)
		C.free(unsafe.Pointer(cname))
		if msg == nil {
			return nil
		}
		reasons = append(reasons, C.GoString(msg))
	}
	var hint string
	switch {
	case runtime.GOOS == "darwin":
		hint = "install macFUSE (https://macfuse.github.io) or FUSE-T (https://www.fuse-t.org)"
	case isFuse3:
		hint = "install libfuse3 (Debian/Ubuntu: apt-get install fuse3; Fedora: dnf install fuse3; Arch: pacman -S fuse3)"
	default:
		hint = "install libfuse 2 (Debian/Ubuntu: apt-get install libfuse2; Fedora: dnf install fuse-libs)"
	}
	return fmt.Errorf("cannot load libfuse (%s): %s", strings.Join(reasons, "; "), hint)
}

// libVersion is fuse_version() of the library cgofuse will load (314 for
// libfuse 3.14), or -1 when unknown.
func libVersion() int {
	for _, name := range libNames() {
		cname := C.CString(name)
		v := C.fsm_fuse_version(cname)
		C.free(unsafe.Pointer(cname))
		if v >= 0 {
			return int(v)
		}
	}
	return -1
}
