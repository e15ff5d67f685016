// Package api is the wire contract of fsm's control API (docs/API.md): the
// paths under /.fsm/api/v1/, the JSON objects of requests and answers, and
// the error codes. It holds types and constants only, so the server, the
// CLI, the bench harness and the page's HTML share one spelling of each and
// none of them imports another's internals.
package api

import (
	"net/url"
	"strings"
	"time"
)

// Base is the path every endpoint is under; the control page lives one
// level up, at /.fsm/.
const Base = "/.fsm/api/v1/"

// Endpoints, relative to Base. A file's endpoint is FilePath(name).
const (
	PathFiles  = "files"
	PathInfo   = "info"
	PathEvents = "events"
)

// PathRetry is appended to a file's endpoint: POST FilePath(name)+PathRetry.
const PathRetry = "/retry"

// TokenHeader carries the bearer token when Authorization is taken by
// basic auth.
const TokenHeader = "X-Fsm-Token"

// FilePath is the endpoint of the file called name, relative to Base: each
// element percent-encoded, so names with spaces, '?', '#' or an escaped '/'
// reach the server intact.
func FilePath(name string) string {
	elems := strings.Split(strings.Trim(name, "/"), "/")
	for i, e := range elems {
		elems[i] = url.PathEscape(e)
	}
	return PathFiles + "/" + strings.Join(elems, "/")
}

// File is a staged name as the API shows it.
type File struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// URLQuery says the source URL has a query string, which is never
	// shown: signed URLs keep their secrets there.
	URLQuery    bool       `json:"url_query"`
	Size        *int64     `json:"size"`  // nil while probing or failed
	MTime       *time.Time `json:"mtime"` // nil while probing or failed
	Downloaded  int64      `json:"downloaded"`
	Rate        int64      `json:"rate"`
	Connections int        `json:"connections"` // TCP connections in use for this file
	Protocol    string     `json:"protocol"`    // of the latest response: "http/1.1", "h2"; "" before any
	Retrying    *Retrying  `json:"retrying"`    // while fetches fail and are retried; null otherwise
	OpenHandles int        `json:"open_handles"`
	// StreamingCache is, for a file larger than the cache, the bytes of
	// cache it streams through (older ones are released); 0 for others.
	StreamingCache int64    `json:"streaming_cache"`
	State          string   `json:"state"` // probing, idle, downloading, complete, error, failed
	Error          string   `json:"error"`
	Verified       bool     `json:"verified"`
	Headers        []string `json:"headers"`
	Paths          []string `json:"paths"`
	// AfterRead is what happens once every byte has been read and the
	// last handle closed: keep, evict or unstage ("" while probing or
	// failed without one asked for, and for a folder).
	AfterRead string `json:"after_read"`

	// A staged folder is a File with Folder set: Size, Downloaded, Rate,
	// Connections and OpenHandles are its entries' sums, State is probing
	// while any entry is, and Entries are its files, in this same shape.
	Folder  bool   `json:"folder,omitempty"`
	Depth   *int   `json:"depth,omitempty"`   // folders only: sub-folder levels followed
	Files   int    `json:"files,omitempty"`   // folders only: how many entries
	Failed  int    `json:"failed,omitempty"`  // folders only: how many entries failed
	Entries []File `json:"entries,omitempty"` // folders only, sorted by name
}

// Retrying says since when a file's fetches fail and are retried, and why
// the latest failed.
type Retrying struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

// Removed is the data of a "removed" event.
type Removed struct {
	Name string `json:"name"`
}

// AfterReadDone is the data of an "after_read" event: an after-read
// action was taken (Action evict: the file stays, idle; unstage: a
// "removed" event follows).
type AfterReadDone struct {
	Name   string `json:"name"`
	Action string `json:"action"` // evict or unstage
	Bytes  int64  `json:"bytes"`  // temp-file bytes freed
}

// Info is the answer of GET info.
type Info struct {
	Version   string    `json:"version"`
	WebDAVURL string    `json:"webdav_url"`
	FUSEDir   string    `json:"fuse_dir"`
	MountDir  string    `json:"mount_dir"`
	KeepAwake KeepAwake `json:"keep_awake"`
}

// KeepAwake says whether fsm keeps the computer from sleeping now and why.
type KeepAwake struct {
	Active bool `json:"active"`
	// Reason is the activity while active ("2 transfers"), why nothing
	// could be held when sleep prevention is unavailable, "off" with
	// --keep-awake=false, else "".
	Reason string `json:"reason"`
}

// StageRequest is the body of POST files.
type StageRequest struct {
	URL     string            `json:"url"`
	Name    string            `json:"name,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// AfterRead: keep, evict or unstage; omitted: the server's
	// --after-read. Files only: refused with Folder.
	AfterRead string `json:"after_read,omitempty"`
	// Folder stages every file the index page at URL links under it, as
	// one folder; Depth is how many levels of sub-folders are followed
	// (absent: 8; 0: the page's own links only).
	Folder bool `json:"folder,omitempty"`
	Depth  *int `json:"depth,omitempty"`
}

// Error is every answer that is not a success.
type Error struct {
	Error string `json:"error"` // one line, for people
	Code  Code   `json:"code"`  // for programs: branch on this, never on Error
}
