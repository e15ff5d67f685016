package vfs

import (
	"context"
	"time"

	"fsm/internal/redact"
	"fsm/state"
	"fsm/store"
)

// This file is the tree's side of persistence: the staged files as a state
// records them, and files put back from a state an earlier run saved.

// Saved lists the staged files as the state file records them, with only
// the ranges their temp files hold durably. It is meant for one saver at a
// time (it syncs temp files).
func (f *FS) Saved() []state.File {
	files := f.Files()
	out := make([]state.File, 0, len(files))
	for _, file := range files {
		src, rem := file.store.Source(), file.store.Remote()
		sv := file.store.Checkpoint()
		out = append(out, state.File{
			Name:         file.path,
			URL:          src.URL,
			Header:       src.Header,
			ResolvedURL:  rem.URL,
			Size:         rem.Size,
			ModTime:      file.modTime,
			ETag:         rem.ETag,
			LastModified: rem.LastModified,
			ContentType:  rem.ContentType,
			NoRange:      rem.NoRange,
			Temp:         sv.Temp,
			Ranges:       sv.Ranges,
			Sums:         sv.Sums,
			Failed:       sv.Failed,
			Changed:      sv.Changed,
			Downloading:  sv.Downloading,
			AfterRead:    string(file.afterRead),
			Folder:       f.savedFolder(file),
		})
	}
	return out
}

// Restore puts back the files an earlier run saved, in their states and
// with the bytes their temp files hold, without asking any origin: the
// first fetch of each carries its validators. A file that cannot be put
// back is logged (never its headers) and left out. It returns how many
// were restored.
func (f *FS) Restore(saved []state.File) int {
	n := 0
	var inFolders []*File
	var folderOf []state.Folder
	for _, sf := range saved {
		file, err := f.restore(sf)
		if err != nil {
			f.log.Warn("cannot restore a file staged in the last run", "name", sf.Name, "err", err)
			continue
		}
		n++
		if sf.Folder != nil {
			inFolders, folderOf = append(inFolders, file), append(folderOf, *sf.Folder)
		}
	}
	// Folders last: a staged folder owns the names under it, so its files
	// could not be restored one by one once it is back.
	f.mu.Lock()
	for i, file := range inFolders {
		if f.files[file.path] == file {
			file.folder = f.restoreFolderLocked(folderOf[i], file.path)
		}
	}
	f.mu.Unlock()
	if n > 0 {
		f.log.Info("restored the files staged in the last run", "files", n)
		f.changed()
	}
	return n
}

func (f *FS) restore(sf state.File) (*File, error) {
	name := Clean(sf.Name)
	if err := f.reserve(name); err != nil {
		return nil, err
	}
	defer func() {
		f.mu.Lock()
		delete(f.pending, name)
		f.mu.Unlock()
	}()
	rem := store.Remote{
		URL:          sf.ResolvedURL,
		Name:         name,
		Size:         sf.Size,
		ETag:         sf.ETag,
		LastModified: sf.LastModified,
		ContentType:  sf.ContentType,
		NoRange:      sf.NoRange,
	}
	if rem.URL == "" {
		rem.URL = sf.URL
	}
	st, err := f.opts.Manager.Resume(store.Source{Name: name, URL: sf.URL, Header: sf.Header}, rem, store.Saved{
		Temp: sf.Temp, Ranges: sf.Ranges, Sums: sf.Sums, Failed: sf.Failed, Changed: sf.Changed, Downloading: sf.Downloading,
	})
	if err != nil {
		return nil, err
	}
	mtime := sf.ModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	file := newFile(name, sf.URL, sf.Header, &rem, mtime.Truncate(time.Second), st)
	if file.afterRead, err = ParseAfterRead(sf.AfterRead); err != nil {
		file.afterRead = "" // an unknown policy: the tree's default
	}
	dirs := parents(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		st.Unstage(context.Background()) // no handle, no reader: nothing to wait for
		return nil, errClosed
	}
	f.files[name] = file
	f.touchLocked(dirs, time.Now())
	return file, nil
}

// savedFolder is what file records of the folder it came from, nil if none.
func (f *FS) savedFolder(file *File) *state.Folder {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fo := file.folder
	if fo == nil || f.folders[fo.name] != fo {
		return nil
	}
	sf := &state.Folder{Name: fo.name, URL: fo.source, Depth: fo.depth, Header: fo.header}
	if m := fo.members[file.path]; m != nil {
		sf.Link = m.url
	}
	return sf
}

// restoreFolderLocked puts back the folder sf names, the first of its
// files to be restored creating it, with the file as a member.
func (f *FS) restoreFolderLocked(sf state.Folder, name string) *folder {
	fo := f.folders[sf.Name]
	if fo == nil {
		fo = &folder{
			name:        sf.Name,
			source:      sf.URL,
			url:         redact.Bare(sf.URL),
			depth:       sf.Depth,
			header:      sf.Header,
			headerNames: headerNames(sf.Header),
			members:     make(map[string]*member),
		}
		f.folders[sf.Name] = fo
	}
	link := sf.Link
	if link == "" {
		link = fo.source
	}
	fo.members[name] = &member{url: link}
	return fo
}

// StagedFrom reports whether name is staged from exactly rawURL (secrets
// included: the caller compares, never shows). staged says whether name
// is staged at all.
func (f *FS) StagedFrom(name, rawURL string) (same, staged bool) {
	f.mu.RLock()
	file := f.files[Clean(name)]
	f.mu.RUnlock()
	if file == nil {
		return false, false
	}
	return file.store.Source().URL == rawURL, true
}

// NameFrom returns the name of a staged file whose source is exactly
// rawURL, if any.
func (f *FS) NameFrom(rawURL string) (string, bool) {
	for _, file := range f.Files() {
		if file.store.Source().URL == rawURL {
			return file.path, true
		}
	}
	return "", false
}

// changed tells Options.Changed that the set of staged files changed.
func (f *FS) changed() {
	if f.opts.Changed != nil {
		f.opts.Changed()
	}
}
