package index

import (
	"net/url"
	"strings"
)

// folder is the URL a listing is under: a link counts when it has the same
// scheme and host and its path starts with the folder's path elements.
type folder struct {
	url          *url.URL // the folder itself: path up to the last "/", no query
	scheme, host string
	elems        []string // decoded path elements, the last one "" (the folder's "/")
}

// newFolder is the folder a page URL stands for: its path up to and
// including the last "/". "…/pub/index.html" stands for "…/pub/"; "…/pub"
// stands for "…/" unless the server redirected it to "…/pub/", which
// autoindex servers do, so List passes the URL the page came from.
func newFolder(u *url.URL) folder {
	elems := splitPath(u)
	elems[len(elems)-1] = "" // the page's own name, if any, is not part of the folder
	self := u.ResolveReference(&url.URL{Path: "./"})
	return folder{url: self, scheme: u.Scheme, host: canonicalHost(u), elems: elems}
}

// link is a link under the folder, classified.
type link struct {
	path     []string // relative to the folder, decoded per element
	isFolder bool     // the link ends in "/"
	url      *url.URL // absolute, without fragment
}

// classify reports the link u under f, or false when u is not a file or
// sub-folder strictly below f: another scheme or host, a query link (sort
// orders and other views of a page, not files), a path outside f, f itself,
// or a path with an empty, "." or ".." element (another spelling of a
// place already listed, or of a parent).
func (f folder) classify(u *url.URL) (link, bool) {
	if u.Scheme != f.scheme || canonicalHost(u) != f.host || u.RawQuery != "" || u.ForceQuery || u.Opaque != "" {
		return link{}, false
	}
	elems := splitPath(u)
	prefix := f.elems[:len(f.elems)-1]
	if len(elems) <= len(prefix) {
		return link{}, false
	}
	for i, e := range prefix {
		if elems[i] != e {
			return link{}, false
		}
	}
	rel := elems[len(prefix):]
	isFolder := rel[len(rel)-1] == ""
	if isFolder {
		rel = rel[:len(rel)-1]
	}
	if len(rel) == 0 {
		return link{}, false // the folder itself
	}
	for _, e := range rel {
		if e == "" || e == "." || e == ".." {
			return link{}, false
		}
	}
	clean := *u
	clean.Fragment, clean.RawFragment = "", ""
	return link{path: rel, isFolder: isFolder, url: &clean}, true
}

// splitPath splits u's escaped path at "/" and decodes each element, so an
// escaped slash stays inside its element. An element that does not decode
// is kept as written. The first element (before the leading "/") is
// dropped; a path ending in "/" ends in "".
func splitPath(u *url.URL) []string {
	p := u.EscapedPath()
	p = strings.TrimPrefix(p, "/")
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if d, err := url.PathUnescape(s); err == nil {
			parts[i] = d
		}
	}
	return parts
}

// canonicalHost is u's host in lower case without the scheme's default
// port, so "HOST:80" and "host" are one host for http.
func canonicalHost(u *url.URL) string {
	h := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "http" && strings.HasSuffix(h, ":80"):
		h = strings.TrimSuffix(h, ":80")
	case u.Scheme == "https" && strings.HasSuffix(h, ":443"):
		h = strings.TrimSuffix(h, ":443")
	}
	return h
}
