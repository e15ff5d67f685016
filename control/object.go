package control

import (
	"path/filepath"
	"time"

	"fsm/vfs"
)

// fileObject is a staged name as the API shows it (docs/API.md).
type fileObject struct {
	Name        string     `json:"name"`
	URL         string     `json:"url"`
	Size        *int64     `json:"size"`
	MTime       *time.Time `json:"mtime"`
	Downloaded  int64      `json:"downloaded"`
	Rate        int64      `json:"rate"`
	Connections int        `json:"connections"`
	OpenHandles int        `json:"open_handles"`
	State       vfs.State  `json:"state"`
	Error       string     `json:"error"`
	Verified    bool       `json:"verified"`
	Headers     []string   `json:"headers"`
	Paths       []string   `json:"paths"`
}

func objectOf(e vfs.Entry, m Mounts) fileObject {
	o := fileObject{
		Name:     e.Name,
		URL:      e.URL,
		State:    e.State,
		Verified: true,
		Headers:  e.HeaderNames,
		Paths:    []string{},
	}
	if o.Headers == nil {
		o.Headers = []string{}
	}
	if e.Err != nil {
		o.Error = oneLine(e.Err.Error())
	}
	if f := e.File; f != nil {
		size, mtime := f.Size(), f.ModTime().UTC()
		o.Size, o.MTime = &size, &mtime
		o.Verified = f.Verified()
		p := e.Progress
		o.Downloaded = p.Present
		o.Rate = int64(p.Rate)
		o.Connections = p.Conns
		o.OpenHandles = p.Handles
		for _, dir := range []string{m.FUSE, m.Desktop} {
			if dir != "" {
				o.Paths = append(o.Paths, filepath.Join(dir, filepath.FromSlash(f.Path())))
			}
		}
	}
	return o
}
