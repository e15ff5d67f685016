package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"fsm/control/api"
)

// writeTimeout bounds one write to an events stream, so a client that stops
// reading does not hold its handler forever.
const writeTimeout = 30 * time.Second

// errStreamDropped ends a stream that was dropped for a new one.
var errStreamDropped = errors.New("events stream dropped to make room for a new one")

// sample is what decides whether a file's object changed since it was last
// sent; comparing it is cheaper than encoding every object on every tick.
type sample struct {
	size        int64
	mtime       int64
	downloaded  int64
	rate        int64
	connections int
	protocol    string
	retrying    string // its reason; "" when not retrying
	handles     int
	state       string
	err         string
	verified    bool
	mounts      string // the mounts' folders: a file's paths change with them
}

// mountsKey is what of the mounts a sample compares, taken once per tick.
func mountsKey(mounts []Mount) string {
	var b strings.Builder
	for _, m := range mounts {
		b.WriteString(m.Dir)
		b.WriteByte(0)
	}
	return b.String()
}

func sampleOf(o api.File, mounts string) sample {
	s := sample{
		downloaded: o.Downloaded, rate: o.Rate, connections: o.Connections, protocol: o.Protocol,
		handles: o.OpenHandles, state: o.State, err: o.Error,
		verified: o.Verified, mounts: mounts, size: -1,
	}
	if o.Size != nil {
		s.size = *o.Size
	}
	if o.MTime != nil {
		s.mtime = o.MTime.Unix()
	}
	if o.Retrying != nil {
		s.retrying = o.Retrying.Reason
	}
	return s
}

// events streams every file's object on connect, then each object that
// changed, sampled once per tick: a progress bar moves smoothly without an
// event per chunk, and nothing changes unseen for longer than a tick. The
// sampling is the hub's, shared by every stream (see eventHub); a stream
// only writes what the hub already encoded.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	st := s.streams.add(rc)
	defer s.streams.remove(st)
	defer st.closeIfDropped()
	w.WriteHeader(http.StatusOK)
	// Writes go straight to w: what a stream sends is already one
	// buffer, shared with every other stream.
	send := func(b []byte) error {
		st.writingSince.Store(time.Now().UnixNano())
		defer st.writingSince.Store(0)
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		// Checked after the deadline is set: a drop from now on sets
		// its own deadline after this one, so a blocked write fails.
		select {
		case <-st.dropped:
			return errStreamDropped
		default:
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}

	sent := s.hub.subscribe()
	defer s.hub.unsubscribe()
	if err := send(sent.full()); err != nil {
		return
	}
	keepalive := time.NewTicker(s.opts.Keepalive)
	defer keepalive.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-st.dropped:
			s.log.Debug("events stream ended to make room for a new one", "limit", maxStreams)
			return
		case <-sent.next:
			cur := s.hub.current()
			err = send(changes(sent, cur))
			sent = cur
		case <-keepalive.C:
			err = send([]byte(": keepalive\n\n"))
		}
		if err != nil {
			s.log.Debug("events stream ended", "err", err)
			return
		}
	}
}

// sampleTree returns every file's object now, and what of the mounts its
// sample compares.
func (s *Server) sampleTree() ([]api.File, string) {
	mounts := s.opts.Mounts()
	entries := s.opts.FS.Entries()
	objs := make([]api.File, len(entries))
	for i, e := range entries {
		objs[i] = objectOf(e, mounts)
	}
	return objs, mountsKey(mounts)
}

// encodeEvent returns the event's lines: its name and v as JSON.
func encodeEvent(event string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", event, err)
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, b), nil
}
