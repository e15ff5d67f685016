package control

import (
	"path/filepath"
	"time"

	"fsm/control/api"
	"fsm/internal/answer"
	"fsm/vfs"
)

func objectOf(e vfs.Entry, mounts []Mount) api.File {
	o := api.File{
		Name:      e.Name,
		URL:       e.URL,
		URLQuery:  e.URLQuery,
		State:     string(e.State),
		Verified:  true,
		Headers:   e.HeaderNames,
		Paths:     []string{},
		AfterRead: string(e.AfterRead),
	}
	if o.Headers == nil {
		o.Headers = []string{}
	}
	if e.Err != nil {
		o.Error = answer.OneLine(e.Err.Error())
	}
	// A source of unknown size downloading whole has these too, before
	// it is a file.
	p := e.Progress
	o.Downloaded = p.Present
	o.Rate = int64(p.Rate)
	o.Connections = p.Conns
	o.Protocol = p.Protocol
	if f := e.File; f != nil {
		size, mtime := f.Size(), f.ModTime().UTC()
		o.Size, o.MTime = &size, &mtime
		o.Verified = f.Verified()
		if r := p.Retrying; r != nil {
			o.Retrying = &api.Retrying{Since: r.Since.UTC().Truncate(time.Second), Reason: answer.OneLine(r.Reason)}
		}
		o.OpenHandles = p.Handles
		o.StreamingCache = p.Streaming
		for _, m := range mounts {
			o.Paths = append(o.Paths, filepath.Join(m.Dir, filepath.FromSlash(f.Path())))
		}
	}
	return o
}
