// Package store keeps one remote file of known size in a sparse temp file
// that background range downloads fill while any number of readers read it.
//
// ReadAt waits for exactly the bytes it asks for, fetching an out-of-order
// range at once; closing (the last handle of an unstaged file, or the
// Manager's Close) goes through a readers gate so the temp file is never
// closed under a reader. A Manager owns the cache directory: Probe learns
// what a URL serves (a Remote), Stage makes the store of a Source as its
// Remote describes it.
//
// # Files
//
//   - probe.go: Probe (HEAD, one-byte GET) and Stage, including the whole
//     download of a source whose size the origin will not tell.
//   - validate.go: pure judgement of each response (status, Content-Range,
//     validators) and the one Content-Range parser.
//   - schedule.go: which ranges are fetched when (claims, readahead).
//   - conns.go: how many connections readahead uses, chosen by measuring
//     what one and what more deliver; rejudge.go: that choice judged again
//     while the download runs.
//   - transport.go: the default client's transport: HTTP/1.1, one TCP
//     connection per request, and HTTP/2 lanes for h2-only origins.
//   - worker.go: the fetch goroutine: copy loop, retries.
//   - origin.go: the origin interface the worker fetches through, and
//     httpOrigin, its HTTP side (request, redirect target, validation,
//     splice); tests drive the worker through a fake one.
//   - request.go: sending a request (headers, redirects) and the stall
//     watchdog (internal/watchdog) every origin read runs under.
//   - errors.go, terms.go: the errors callers tell apart, and failures to
//     reach an origin said in the user's terms.
//   - retry.go: Retry of a store in error.
//   - phase.go: the store's lifecycle as named phases.
//   - digest.go: block checksums of files without validators.
//   - tempfile.go: the temp file, open only while in use.
//   - disk.go: how much of the cache disk is taken: the free margin, whole
//     and per-range reservations, giving back a failed one, the bound on
//     a download of unknown size.
//   - cachedir.go: a cache dir removed while fsm runs, made again.
//   - release.go: a file larger than the cache streamed through its share
//     of it: reader positions, pinned reads, bytes released behind the
//     readers, readahead bounded by the share; punch_*.go: the hole punch.
//   - splice.go, splice_linux.go: plain-http bodies spliced from the socket
//     into the temp file, below net/http.
//   - activity.go: Progress's rate, TCP connections, protocol and retrying,
//     and the download logs.
//
// # Locks
//
// Locks are taken in the order Manager.mu, then Store.mu, then gate.mu,
// tempFile.mu or Manager.dirMu;
// never the other way. Manager.mu guards the set of stores and the closed
// state; Manager.used is atomic and may be changed under Store.mu.
// Store.mu guards the store's mutable state (phase, present bytes,
// waiters, handles, the list of fetches and each fetch's pos and end, the
// reservation, errors and counters); httpOrigin.mu only the redirect
// target requests go to; protocolTransport.mu its h2-only hosts and lanes. No lock is held across
// a network call, a disk write or a wait, but for giveBack's hole punches
// of ranges never written, which only change block maps (a streamed file's
// releases, which write dirty pages back first, are punched without it). Methods and functions whose name
// ends in Locked must be called with Store.mu held; all others take it
// themselves.
//
// # Versions never mix
//
// A store hands out bytes of one version of the origin's file only. With a
// validator (an ETag, or Last-Modified) every ranged request carries
// If-Range and every response's validators are compared with the staged
// ones, so bytes of another version are refused (ErrChanged). Without any
// validator there is nothing to compare separate range responses with, so
// such a file is read as one stream from its start, like an origin that
// ignores Range: one response is one version. When the stream must be
// restarted, the bytes it replays are compared with those already present,
// and any difference fails the store with ErrChanged. Bytes evicted from
// the cache cannot be compared that way, so a CRC-64 of each MiB is kept
// as first received: a stream after an eviction hands out a block only once
// it matched, and fails with ErrChanged when one does not. The cost is that
// random reads of such a file wait for the stream to reach them.
package store
