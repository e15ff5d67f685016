package control

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"fsm/control/api"
	"fsm/internal/answer"
	"fsm/vfs"
)

// grouped is GET files' array: each staged folder as one object holding
// its entries, in name order with the files staged alone.
func grouped(entries []vfs.Entry, folders []vfs.Folder, mounts []Mount) []api.File {
	byFolder := make(map[string][]api.File, len(folders))
	for _, fo := range folders {
		byFolder[fo.Name] = nil
	}
	out := make([]api.File, 0, len(entries))
	for _, e := range entries {
		if _, ok := byFolder[e.Folder]; ok && e.Folder != "" {
			byFolder[e.Folder] = append(byFolder[e.Folder], objectOf(e, mounts))
			continue
		}
		out = append(out, objectOf(e, mounts))
	}
	for _, fo := range folders {
		out = append(out, folderObject(fo, byFolder[fo.Name], mounts))
	}
	sortByName(out)
	return out
}

// folderObject is a staged folder's object: its entries (already sorted
// by name, as Entries lists them) and their sums.
func folderObject(fo vfs.Folder, entries []api.File, mounts []Mount) api.File {
	depth := fo.Depth
	o := api.File{
		Name:    fo.Name,
		URL:     fo.URL,
		State:   "staged",
		Headers: fo.HeaderNames,
		Paths:   []string{},
		Folder:  true,
		Depth:   &depth,
		Files:   len(entries),
		Entries: entries,
	}
	if o.Headers == nil {
		o.Headers = []string{}
	}
	if o.Entries == nil {
		o.Entries = []api.File{}
	}
	var size int64
	verified := true
	for _, e := range entries {
		switch e.State {
		case string(vfs.StateProbing):
			o.State = string(vfs.StateProbing)
		case string(vfs.StateFailed):
			o.Failed++
		}
		if e.Size != nil {
			size += *e.Size
		}
		o.Downloaded += e.Downloaded
		o.Rate += e.Rate
		o.Connections += e.Connections
		o.OpenHandles += e.OpenHandles
		verified = verified && e.Verified
	}
	o.Size, o.Verified = &size, verified
	for _, m := range mounts {
		o.Paths = append(o.Paths, filepath.Join(m.Dir, filepath.FromSlash(fo.Name)))
	}
	return o
}

// folderOf is the object of the staged folder name, entries included.
func (s *Server) folderOf(name string) (api.File, bool) {
	fo, ok := s.opts.FS.Folder(name)
	if !ok {
		return api.File{}, false
	}
	var entries []vfs.Entry
	for _, e := range s.opts.FS.Entries() {
		if e.Folder == fo.Name {
			entries = append(entries, e)
		}
	}
	mounts := s.opts.Mounts()
	objs := make([]api.File, len(entries))
	for i, e := range entries {
		objs[i] = objectOf(e, mounts)
	}
	return folderObject(fo, objs, mounts), true
}

// stageFolder answers POST files with "folder": true once the index is
// read: 201 with the new folder, 200 with a refreshed one. Its files are
// staged in the background, listed as probing until they are.
func (s *Server) stageFolder(w http.ResponseWriter, r *http.Request, req api.StageRequest) {
	depth := vfs.DefaultFolderDepth
	if req.Depth != nil {
		depth = *req.Depth
	}
	if depth < 0 || depth > maxDepth {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf(`"depth" %d: want 0 to %d`, depth, maxDepth))
		return
	}
	header, err := requestHeader(req.Headers)
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	ctx, cancel := s.stageContext(r)
	defer cancel()
	fo, refreshed, err := s.opts.FS.StageFolder(ctx, vfs.FolderRequest{URL: req.URL, Name: req.Name, Depth: depth, Header: header})
	if err != nil {
		a := answer.For(err)
		s.log.Debug("stage folder refused", "status", a.Status, "code", a.Code, "err", err)
		writeAnswer(w, a)
		return
	}
	o, ok := s.folderOf(fo.Name)
	if !ok {
		writeError(w, http.StatusConflict, api.CodeUnstaged, fmt.Sprintf("%q was unstaged while it was being staged", fo.Name))
		return
	}
	status := http.StatusCreated
	if refreshed {
		status = http.StatusOK
	}
	writeJSON(w, status, o)
}

// maxDepth is the deepest folder listing a request may ask for: names are
// at most 64 elements deep.
const maxDepth = 63

func sortByName(fs []api.File) {
	slices.SortStableFunc(fs, func(a, b api.File) int { return strings.Compare(a.Name, b.Name) })
}
