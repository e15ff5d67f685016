package webdav

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/net/webdav"

	"fsm/vfs"
)

// The layers below fix what golang.org/x/net/webdav gets wrong for desktop
// clients. Each is independent and keeps a compliant server compliant, so
// tests put the same stack over webdav.NewMemFS() and run litmus against
// it. ReadOnly is separate: it is what makes fsm's tree read-only.

// WrapOptions configure Wrap.
type WrapOptions struct {
	// Prefix is the URL path the tree is served under ("" or "/dav"); it
	// must match the wrapped handler's. Requests outside it get 404.
	Prefix string
}

// Wrap returns h behind the protocol guards every fsm WebDAV stack uses:
// HideControl, JunkNotFound, FiniteDepth and StrictXML, outermost first.
func Wrap(h http.Handler, opts WrapOptions) http.Handler {
	return HideControl(JunkNotFound(FiniteDepth(StrictXML(h))), opts.Prefix)
}

// Harden wraps a webdav.FileSystem so that every error it returns is an
// *os.PathError (any other error truncates a 207 mid-stream,
// golang/go#66085) and quota properties can never appear in a PROPFIND
// answer, not even as dead properties someone stored (macOS stalls on them,
// cryptomator/webdav-nio-adapter#107): a request for them gets 404 propstat.
func Harden(fsys webdav.FileSystem) webdav.FileSystem { return hardFS{fsys} }

// readMethods are the methods JunkNotFound answers for: lookups, never writes
// (a PUT must not get 404).
var readMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, "PROPFIND": true, http.MethodPost: true}

// JunkNotFound answers lookups of names desktop clients probe for (._*,
// .DS_Store, desktop.ini ... see vfs.Hidden) with 404 at once, without
// touching the tree.
func JunkNotFound(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if readMethods[r.Method] && vfs.Hidden(r.URL.Path) {
			notFound(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// HideControl answers 404 for everything under /.fsm (after prefix) and for
// requests outside prefix: the control API and page are mounted there by
// the caller and never served through WebDAV.
func HideControl(h http.Handler, prefix string) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, ok := stripPrefix(prefix, r.URL.Path)
		if !ok || hidden(vfs.Clean(rel)) {
			notFound(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// stripPrefix returns p relative to prefix ("/" at least), or false when p
// is not under prefix.
func stripPrefix(prefix, p string) (string, bool) {
	if prefix == "" {
		return p, true
	}
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

const finiteDepthBody = `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
	`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>` + "\n"

// FiniteDepth refuses PROPFIND with Depth infinity, or without a Depth
// header (which means infinity), with 403 and a DAV:propfind-finite-depth
// error body (RFC 4918 9.1): x/net/webdav would walk the whole tree.
func FiniteDepth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PROPFIND" {
			d := strings.TrimSpace(r.Header.Get("Depth"))
			if d == "" || strings.EqualFold(d, "infinity") {
				w.Header().Set("Content-Type", "application/xml; charset=utf-8")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, finiteDepthBody)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// maxXMLBody bounds the request bodies StrictXML reads (PROPFIND,
// PROPPATCH, LOCK are a few hundred bytes in practice).
const maxXMLBody = 1 << 20

// xmlMethods are the methods whose bodies x/net/webdav parses as XML.
var xmlMethods = map[string]bool{"PROPFIND": true, "PROPPATCH": true, "LOCK": true}

// StrictXML rejects with 400 the XML request bodies encoding/xml accepts
// but XML Namespaces forbids: an empty prefixed namespace declaration
// (xmlns:p=""), litmus's propfind_invalid2. Bodies over 1 MiB get 413.
func StrictXML(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !xmlMethods[r.Method] || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxXMLBody+1))
		r.Body.Close()
		switch {
		case err != nil:
			plain(w, http.StatusBadRequest, "cannot read the request body\n")
			return
		case len(body) > maxXMLBody:
			plain(w, http.StatusRequestEntityTooLarge, "request body too large\n")
			return
		}
		if msg := badNamespace(body); msg != "" {
			plain(w, http.StatusBadRequest, msg+"\n")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}

// badNamespace reports an empty prefixed namespace declaration; other
// malformations are left to x/net/webdav, which answers them with 400.
func badNamespace(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return "invalid XML: empty namespace declaration for prefix " + strconv.Quote(a.Name.Local)
				}
			}
		}
	}
}

// allowRead is the Allow list of the read-only tree.
const allowRead = "OPTIONS, GET, HEAD, PROPFIND"

// writeMethods get 403: the resource exists or not, it cannot be changed.
var writeMethods = map[string]bool{
	http.MethodPut: true, http.MethodDelete: true, "MKCOL": true, "COPY": true,
	"MOVE": true, "PROPPATCH": true, http.MethodPatch: true,
}

// ReadOnly answers OPTIONS itself with "DAV: 1" and an Allow list without
// write methods, so macOS Finder mounts the volume read-only and never
// tries LOCK, PUT or ._* writes; it refuses write methods with 403, LOCK,
// UNLOCK and anything unknown with 405 (x/net/webdav's own answers on a
// read-only tree are 404 and 500, golang/go#43929), and passes OPTIONS-less
// reads (GET, HEAD, PROPFIND) on.
func ReadOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodOptions:
			hd := w.Header()
			hd.Set("DAV", "1")
			hd.Set("Allow", allowRead)
			hd.Set("MS-Author-Via", "DAV")
			hd.Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == "PROPFIND":
			h.ServeHTTP(w, r)
		case writeMethods[r.Method]:
			plain(w, http.StatusForbidden, "fsm serves a read-only tree: "+r.Method+" is not allowed\n")
		default:
			w.Header().Set("Allow", allowRead)
			plain(w, http.StatusMethodNotAllowed, "fsm serves a read-only tree: "+r.Method+" is not supported\n")
		}
	})
}

func plain(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

func notFound(w http.ResponseWriter) { plain(w, http.StatusNotFound, "not found\n") }

// quotaProps are RFC 4331's properties.
var quotaProps = map[xml.Name]bool{
	{Space: "DAV:", Local: "quota-available-bytes"}: true,
	{Space: "DAV:", Local: "quota-used-bytes"}:      true,
	{Space: "DAV:", Local: "quota"}:                 true,
	{Space: "DAV:", Local: "quotaused"}:             true,
}

type hardFS struct{ fs webdav.FileSystem }

func (h hardFS) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	return asPathError("mkdir", name, h.fs.Mkdir(ctx, name, perm))
}

func (h hardFS) RemoveAll(ctx context.Context, name string) error {
	return asPathError("remove", name, h.fs.RemoveAll(ctx, name))
}

func (h hardFS) Rename(ctx context.Context, oldName, newName string) error {
	return asPathError("rename", oldName, h.fs.Rename(ctx, oldName, newName))
}

func (h hardFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	fi, err := h.fs.Stat(ctx, name)
	return fi, asPathError("stat", name, err)
}

func (h hardFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	f, err := h.fs.OpenFile(ctx, name, flag, perm)
	if err != nil {
		return nil, asPathError("open", name, err)
	}
	return &hardFile{f: f, name: name}, nil
}

// hardFile wraps a File's errors and filters its dead properties. It always
// implements DeadPropsHolder; over a File that does not, it behaves as
// x/net/webdav does without one (no dead properties, every patch 403).
type hardFile struct {
	f    webdav.File
	name string
}

// passErr keeps the sentinel errors callers compare with ==.
func passErr(err error) bool { return err == nil || err == io.EOF }

func (h *hardFile) Read(p []byte) (int, error) {
	n, err := h.f.Read(p)
	if passErr(err) {
		return n, err
	}
	return n, asPathError("read", h.name, err)
}

func (h *hardFile) Write(p []byte) (int, error) {
	n, err := h.f.Write(p)
	return n, asPathError("write", h.name, err)
}

func (h *hardFile) Seek(off int64, whence int) (int64, error) {
	n, err := h.f.Seek(off, whence)
	return n, asPathError("seek", h.name, err)
}

func (h *hardFile) Readdir(count int) ([]fs.FileInfo, error) {
	list, err := h.f.Readdir(count)
	if passErr(err) {
		return list, err
	}
	return list, asPathError("readdir", h.name, err)
}

func (h *hardFile) Stat() (fs.FileInfo, error) {
	fi, err := h.f.Stat()
	return fi, asPathError("stat", h.name, err)
}

func (h *hardFile) Close() error { return asPathError("close", h.name, h.f.Close()) }

func (h *hardFile) DeadProps() (map[xml.Name]webdav.Property, error) {
	dph, ok := h.f.(webdav.DeadPropsHolder)
	if !ok {
		return nil, nil
	}
	props, err := dph.DeadProps()
	if err != nil {
		return nil, asPathError("deadprops", h.name, err)
	}
	for n := range props {
		if quotaProps[n] {
			delete(props, n)
		}
	}
	return props, nil
}

func (h *hardFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	dph, ok := h.f.(webdav.DeadPropsHolder)
	quota := false
	for _, p := range patches {
		for _, pr := range p.Props {
			quota = quota || quotaProps[pr.XMLName]
		}
	}
	if ok && !quota {
		ps, err := dph.Patch(patches)
		if err != nil {
			return nil, asPathError("proppatch", h.name, err)
		}
		return ps, nil
	}
	// Quota properties are live and protected (RFC 4331): refuse them and
	// fail the rest as a dependency; without dead properties refuse all.
	forbidden := webdav.Propstat{Status: http.StatusForbidden}
	failed := webdav.Propstat{Status: webdav.StatusFailedDependency}
	if quota {
		forbidden.XMLError = `<D:cannot-modify-protected-property xmlns:D="DAV:"/>`
	}
	for _, p := range patches {
		for _, pr := range p.Props {
			if quotaProps[pr.XMLName] || !ok {
				forbidden.Props = append(forbidden.Props, webdav.Property{XMLName: pr.XMLName})
			} else {
				failed.Props = append(failed.Props, webdav.Property{XMLName: pr.XMLName})
			}
		}
	}
	out := []webdav.Propstat{forbidden}
	if len(failed.Props) > 0 {
		out = append(out, failed)
	}
	return out, nil
}

// asPathError returns err as an *os.PathError (nil stays nil).
func asPathError(op, name string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*os.PathError); ok {
		return err
	}
	return &os.PathError{Op: op, Path: name, Err: err}
}
