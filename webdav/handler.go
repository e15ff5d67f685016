// Package webdav is fsm's WebDAV frontend: a read-only WebDAV server over the
// staged-file tree (vfs) that macOS Finder, Windows Explorer, gvfs, rclone
// and davfs2 can mount.
//
// It is golang.org/x/net/webdav for PROPFIND, behind layers that fix what
// that package gets wrong for desktop clients (see Wrap, Harden, ReadOnly),
// and its own GET/HEAD: headers go out only once the first bytes of the
// requested range are in hand, so an origin that fails at once yields a 502
// that says why, and a failure mid-stream aborts the response rather than
// ending a file early.
package webdav

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/net/webdav"

	"fsm/vfs"
)

// Options configure NewHandler.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	// Prefix is the URL path the tree is served under: "" (the root) or
	// e.g. "/dav". Requests outside it get 404.
	Prefix string
	// ControlURL is linked from folder pages; default "/.fsm/".
	ControlURL string
}

// NewHandler returns the read-only WebDAV handler for fsys. Everything under
// <Prefix>/.fsm is answered 404: the caller mounts the control API and page
// there, in front of this handler.
func NewHandler(fsys *vfs.FS, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	prefix := strings.TrimSuffix(opts.Prefix, "/")
	control := opts.ControlURL
	if control == "" {
		control = "/" + vfs.ControlPrefix + "/"
	}
	dav := &webdav.Handler{
		Prefix:     prefix,
		FileSystem: Harden(NewFileSystem(fsys)),
		LockSystem: webdav.NewMemLS(),
		Logger: func(r *http.Request, err error) {
			switch {
			case err == nil:
			case errors.Is(err, fs.ErrNotExist):
				log.Debug("webdav", "method", r.Method, "path", r.URL.Path, "err", err)
			default:
				log.Warn("webdav", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		},
	}
	s := &server{fs: fsys, dav: dav, log: log, prefix: prefix, control: control}
	return Wrap(ReadOnly(s), WrapOptions{Prefix: prefix})
}

// server answers GET and HEAD from the tree itself and hands everything
// else to x/net/webdav.
type server struct {
	fs      *vfs.FS
	dav     http.Handler
	log     *slog.Logger
	prefix  string
	control string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.dav.ServeHTTP(w, r)
		return
	}
	rel, ok := stripPrefix(s.prefix, r.URL.Path)
	if !ok {
		notFound(w)
		return
	}
	name := vfs.Clean(rel)
	if hidden(name) {
		notFound(w)
		return
	}
	info, err := s.fs.Stat(name)
	if err != nil {
		notFound(w)
		return
	}
	if info.IsDir {
		s.serveDir(w, r, info)
		return
	}
	s.serveFile(w, r, info)
}

// serveFile answers GET and HEAD for a file through http.ServeContent, with
// Content-Type, ETag and Last-Modified from metadata (nothing is sniffed).
// HEAD never opens a handle. GET holds the status line back until the first
// chunk of the range has been read.
func (s *server) serveFile(w http.ResponseWriter, r *http.Request, info vfs.Info) {
	h := w.Header()
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("ETag", info.ETag)
	h.Set("X-Content-Type-Options", "nosniff")
	if scriptable(ct) {
		// A staged HTML or SVG file opened in a browser must not run
		// scripts as this origin, which also serves the control page.
		h.Set("Content-Security-Policy", "sandbox")
	}
	if strings.Contains(r.Header.Get("Range"), ",") {
		// Multi-range answers would read from a goroutine of ServeContent
		// after headers are out; no client of fsm sends them, and RFC 9110
		// lets a server ignore Range.
		r = r.Clone(r.Context())
		r.Header.Del("Range")
	}
	c := &content{ctx: r.Context(), size: info.Size}
	if r.Method == http.MethodHead {
		http.ServeContent(w, r, info.Name(), info.ModTime, c)
		return
	}
	hd, err := s.fs.Open(info.Path)
	if err != nil {
		// Unstaged between Stat and Open.
		notFound(w)
		return
	}
	defer hd.Close()
	c.h = hd
	hw := &holdWriter{w: w}
	http.ServeContent(hw, r, info.Name(), info.ModTime, c)
	if c.err == nil {
		hw.send()
		return
	}
	if r.Context().Err() != nil || hw.werr != nil {
		s.log.Debug("client went away during GET", "name", info.Path, "offset", c.errOff, "sent", hw.n)
		if hw.sent {
			panic(http.ErrAbortHandler)
		}
		return
	}
	msg := redactURLs(c.err.Error())
	if !hw.sent {
		s.log.Error("GET failed: cannot read from the origin", "name", info.Path, "offset", c.errOff, "err", msg)
		for _, k := range []string{"Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified", "Content-Security-Policy"} {
			h.Del(k)
		}
		plain(w, http.StatusBadGateway, fmt.Sprintf("fsm: cannot read %q from its origin: %s\n", info.Path, msg))
		return
	}
	s.log.Error("GET aborted mid-stream: cannot read from the origin", "name", info.Path, "offset", c.errOff, "sent", hw.n, "err", msg)
	panic(http.ErrAbortHandler)
}

// scriptable reports content types a browser would run scripts in.
func scriptable(ct string) bool {
	mt, _, _ := strings.Cut(strings.ToLower(ct), ";")
	switch strings.TrimSpace(mt) {
	case "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl":
		return true
	}
	return false
}

var queryRE = regexp.MustCompile(`(https?://[^\s?"#]*)\?[^\s"#]*`)

// redactURLs drops query strings from URLs in a message: signed URLs carry
// their secrets there.
// A colon ending the match is the message's ("download URL: err").
func redactURLs(s string) string {
	return queryRE.ReplaceAllStringFunc(s, func(m string) string {
		base, _, _ := strings.Cut(m, "?")
		if strings.HasSuffix(m, ":") {
			return base + "?…:"
		}
		return base + "?…"
	})
}

// errNoRead: HEAD answers must never read content.
var errNoRead = errors.New("no content read for this request")

// content is an io.ReadSeeker over a vfs handle for http.ServeContent: sizes
// and seeks come from metadata, each Read is one ReadAt with the request's
// context, and the first failure is kept for the caller.
type content struct {
	ctx    context.Context
	h      *vfs.Handle // nil for HEAD
	size   int64
	pos    int64
	err    error
	errOff int64
}

func (c *content) Read(p []byte) (int, error) {
	if c.pos >= c.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.h == nil {
		c.err, c.errOff = errNoRead, c.pos
		return 0, c.err
	}
	n, err := c.h.ReadAt(c.ctx, p, c.pos)
	c.pos += int64(n)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF) && c.pos >= c.size:
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	default:
		c.err, c.errOff = err, c.pos
		return n, err
	}
}

func (c *content) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += c.pos
	case io.SeekEnd:
		off += c.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if off < 0 {
		return 0, errors.New("seek: negative position")
	}
	c.pos = off
	return off, nil
}

// holdWriter holds the status line back until the first body byte (or the
// end of the handler), so a read that fails before anything was sent can
// still become a 502.
type holdWriter struct {
	w    http.ResponseWriter
	code int
	sent bool
	n    int64
	werr error // a write to the client failed: it went away
}

func (h *holdWriter) Header() http.Header { return h.w.Header() }

func (h *holdWriter) WriteHeader(code int) {
	if !h.sent && h.code == 0 {
		h.code = code
	}
}

func (h *holdWriter) Write(p []byte) (int, error) {
	h.send()
	n, err := h.w.Write(p)
	h.n += int64(n)
	if err != nil {
		h.werr = err
	}
	return n, err
}

// ReadFrom is where http.ServeContent's copy lands (io.CopyN over the
// content). For a vfs-backed body it lets the store hand present runs of the
// temp file to the response, which sends them with sendfile; the status line
// still waits for the first bytes, since CopyTo writes only once they are in.
func (h *holdWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	var c *content
	if ok {
		c, ok = lr.R.(*content)
	}
	if !ok || c.h == nil {
		return io.Copy(writerOnly{h}, src)
	}
	n, err := c.h.CopyTo(c.ctx, sendWriter{h}, c.pos, min(lr.N, c.size-c.pos))
	c.pos += n
	lr.N -= n
	if err != nil && c.err == nil {
		c.err, c.errOff = err, c.pos
	}
	return n, err
}

// writerOnly hides ReadFrom so io.Copy does not recurse into it.
type writerOnly struct{ io.Writer }

// sendWriter sends the held status line, then passes the body on to the
// response's own ReadFrom (sendfile) when it has one.
type sendWriter struct{ h *holdWriter }

func (s sendWriter) Write(p []byte) (int, error) { return s.h.Write(p) }

func (s sendWriter) ReadFrom(src io.Reader) (int64, error) {
	s.h.send()
	rf, ok := s.h.w.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{s.h.w}, src)
	}
	n, err := rf.ReadFrom(src)
	s.h.n += n
	if err != nil && !isReadSide(err) {
		s.h.werr = err
	}
	return n, err
}

// isReadSide reports whether err came from reading the body's source (the
// temp file) rather than from writing to the client. CopyTo hands ReadFrom an *os.File section,
// whose reads fail only with *fs.PathError.
func isReadSide(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe)
}

func (h *holdWriter) send() {
	if h.sent {
		return
	}
	h.sent = true
	if h.code == 0 {
		h.code = http.StatusOK
	}
	h.w.WriteHeader(h.code)
}

// dirPage is the folder listing for browsers.
var dirPage = template.Must(template.New("dir").Funcs(template.FuncMap{
	"bytes": func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>fsm: {{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:.25em 1em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}
</style></head><body>
<h1>{{.Title}}</h1>
<p><a href="{{.Control}}">fsm control page</a> · read-only WebDAV: mount this URL in your file manager.</p>
<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead><tbody>
{{if .Parent}}<tr><td><a href="{{.Parent}}">../</a></td><td></td><td></td></tr>
{{end}}{{range .Entries}}<tr><td><a href="{{.Href}}">{{.Name}}{{if .IsDir}}/{{end}}</a></td><td class="n"{{if not .IsDir}} title="{{.Size}} bytes"{{end}}>{{if not .IsDir}}{{bytes .Size}}{{end}}</td><td>{{date .ModTime}}</td></tr>
{{else}}<tr><td colspan="3">No files staged.</td></tr>
{{end}}</tbody></table>
</body></html>
`))

type dirEntry struct {
	Name, Href string
	IsDir      bool
	Size       int64
	ModTime    time.Time
}

// href is the absolute, escaped URL path of a tree path.
func (s *server) href(p string, dir bool) string {
	u := s.prefix + "/"
	if p != "" {
		u += (&url.URL{Path: p}).EscapedPath()
		if dir {
			u += "/"
		}
	}
	return u
}

// serveDir answers GET on a folder with a plain HTML listing.
func (s *server) serveDir(w http.ResponseWriter, r *http.Request, info vfs.Info) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	list, err := s.fs.ReadDir(info.Path)
	if err != nil && info.Path != "" {
		notFound(w)
		return
	}
	data := struct {
		Title, Control, Parent string
		Entries                []dirEntry
	}{Title: "/" + info.Path, Control: s.control}
	if info.Path != "" {
		data.Title += "/"
		parent := path.Dir(info.Path)
		if parent == "." {
			parent = ""
		}
		data.Parent = s.href(parent, true)
	}
	for _, in := range list {
		if hidden(in.Path) {
			continue
		}
		data.Entries = append(data.Entries, dirEntry{
			Name: in.Name(), Href: s.href(in.Path, in.IsDir), IsDir: in.IsDir, Size: in.Size, ModTime: in.ModTime,
		})
	}
	if err := dirPage.Execute(w, data); err != nil {
		s.log.Debug("folder page", "path", info.Path, "err", err)
	}
}
