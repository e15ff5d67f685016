// Package index lists the files under a folder URL by reading the folder's
// HTML index page: Apache, nginx and lighttpd autoindex, Python's
// http.server, caddy's browse page, or any HTML page of plain links.
//
// List fetches the page, keeps the links that point under the folder URL
// (same scheme, host and path prefix) and follows the ones that end in "/"
// as sub-folders, within a depth and with bounds on the pages and files it
// reads. Everything else a listing page links to (the parent folder, sort
// and other query links, fragments, other hosts, paths outside the folder,
// the page itself) is ignored, so the package needs no knowledge of any one
// server's layout: it is a tokenizer walk over <a href> and <base href>.
//
// A listing is all or nothing. A sub-folder page that fails fails the whole
// listing, because a caller that refreshes a folder from a listing would
// otherwise remove every file of a folder that merely failed to load.
//
// Names are reported as the server spelled them, percent-decoded one path
// element at a time (so an escaped "/" stays inside its element); the
// caller applies its own name rules. docs/FOLDERS.md describes what is
// parsed and what is ignored.
package index
