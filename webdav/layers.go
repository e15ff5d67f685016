package webdav

import (
	"bytes"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"fsm/vfs"
)

// The layers below fix what golang.org/x/net/webdav gets wrong for desktop
// clients. wrap's layers are independent of fsm's tree and keep a compliant
// server compliant, so a test puts them over x/net/webdav's writable
// in-memory tree and runs litmus against it. readOnly and noLockEntries are
// what make fsm's tree a read-only, class 1 one.

// wrap returns h behind the protocol guards every fsm WebDAV stack uses:
// hideNames, finiteDepth and strictXML, outermost first.
func wrap(h http.Handler) http.Handler {
	return hideNames(finiteDepth(strictXML(h)))
}

// lookupMethods are the methods hideNames answers for: lookups, never
// writes (a PUT must not get 404; readOnly refuses it).
var lookupMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, "PROPFIND": true, http.MethodPost: true}

// hideNames answers lookups of names that exist for nobody with 404 at
// once, without touching the tree: what desktop clients probe for (._*,
// .DS_Store, desktop.ini ...) and fsm's own /.fsm (see vfs.Hidden).
func hideNames(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lookupMethods[r.Method] && vfs.Hidden(r.URL.Path) {
			notFound(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

const finiteDepthBody = `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
	`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>` + "\n"

// finiteDepth refuses PROPFIND with Depth infinity, or without a Depth
// header (which means infinity), with 403 and a DAV:propfind-finite-depth
// error body (RFC 4918 9.1): x/net/webdav would walk the whole tree.
func finiteDepth(h http.Handler) http.Handler {
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

// maxXMLBody bounds the request bodies strictXML reads (PROPFIND,
// PROPPATCH, LOCK are a few hundred bytes in practice).
const maxXMLBody = 1 << 20

// xmlMethods are the methods whose bodies x/net/webdav parses as XML.
var xmlMethods = map[string]bool{"PROPFIND": true, "PROPPATCH": true, "LOCK": true}

// strictXML rejects with 400 the XML request bodies encoding/xml accepts
// but XML Namespaces forbids: an empty prefixed namespace declaration
// (xmlns:p=""), litmus's propfind_invalid2. Bodies over 1 MiB get 413.
func strictXML(h http.Handler) http.Handler {
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

// readOnly answers OPTIONS itself with "DAV: 1" and an Allow list without
// write methods, so macOS Finder mounts the volume read-only and never
// tries LOCK, PUT or ._* writes; it refuses write methods with 403, LOCK,
// UNLOCK and anything unknown with 405 (x/net/webdav's own answers on a
// read-only tree are 404 and 500, golang/go#43929), and passes OPTIONS-less
// reads (GET, HEAD, PROPFIND) on.
func readOnly(h http.Handler, log *slog.Logger) http.Handler {
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
			log.Debug("webdav: write refused", "method", r.Method, "path", r.URL.Path)
			plain(w, http.StatusForbidden, "fsm serves a read-only tree: "+r.Method+" is not allowed\n")
		default:
			log.Debug("webdav: method refused", "method", r.Method, "path", r.URL.Path)
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

// lockEntry is the one lock x/net/webdav's supportedlock property always
// offers, whatever its LockSystem (prop.go, findSupportedLock).
const lockEntry = `<D:lockentry xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
	`<D:locktype><D:write/></D:locktype></D:lockentry>`

// noLockEntries removes lockEntry from PROPFIND answers: a class 1 server
// (DAV: 1, LOCK refused) offers no locks, and a client that sees one may try
// to lock before it writes. supportedlock stays, empty, as RFC 4918 15.10
// allows.
func noLockEntries(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "PROPFIND" {
			h.ServeHTTP(w, r)
			return
		}
		f := &dropWriter{ResponseWriter: w, drop: []byte(lockEntry)}
		defer f.flush()
		h.ServeHTTP(f, r)
	})
}

// dropWriter removes every occurrence of drop from a response body written
// in pieces; it holds back a tail that could begin an occurrence.
type dropWriter struct {
	http.ResponseWriter
	drop    []byte
	pending []byte
	err     error
}

func (d *dropWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	buf := bytes.ReplaceAll(append(d.pending, p...), d.drop, nil)
	keep := min(len(d.drop)-1, len(buf))
	out := buf[:len(buf)-keep]
	// Only a tail that is a prefix of drop can begin an occurrence.
	for keep > 0 && !bytes.HasPrefix(d.drop, buf[len(buf)-keep:]) {
		keep--
		out = buf[:len(buf)-keep]
	}
	d.pending = append(d.pending[:0:0], buf[len(buf)-keep:]...)
	if len(out) > 0 {
		if _, err := d.ResponseWriter.Write(out); err != nil {
			d.err = err
			return 0, err
		}
	}
	return len(p), nil
}

func (d *dropWriter) flush() {
	if len(d.pending) > 0 && d.err == nil {
		d.ResponseWriter.Write(d.pending)
	}
	d.pending = nil
}

func (d *dropWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
