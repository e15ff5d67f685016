package vfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"fsm/store"
)

// ErrNotFailing is returned by Retry for a name that is not in error or
// failed.
var ErrNotFailing = store.ErrNotFailing

// Retry makes another attempt at a name that is in error or failed: a
// file in error resumes its download at once; a failed file (its origin
// file changed) is staged again from the same source under the same name;
// a source that failed to stage is staged again. It returns the file.
func (f *FS) Retry(ctx context.Context, name string) (*File, error) {
	name = Clean(name)
	f.mu.Lock()
	file := f.files[name]
	var failed *staging
	for st := range f.staging {
		if st.err != nil && st.name == name && st.req != nil {
			failed = st
		}
	}
	if file == nil && failed != nil {
		delete(f.staging, failed)
	}
	f.mu.Unlock()
	switch {
	case file != nil:
		err := file.store.Retry()
		if !errors.Is(err, ErrNotFailing) || file.store.Progress().State != store.StateFailed {
			if err != nil {
				return nil, err
			}
			f.log.Info("retrying", "name", name)
			return file, nil
		}
		src := file.store.Source()
		if err := f.Unstage(ctx, name); err != nil {
			return nil, fmt.Errorf("retry %s: %w", name, err)
		}
		f.log.Info("staging again after a failure", "name", name)
		return f.Stage(ctx, Request{URL: src.URL, Name: name, Header: src.Header, KeepFailure: true})
	case failed != nil:
		f.log.Info("staging again after a failure", "name", name)
		return f.Stage(ctx, *failed.req)
	}
	return nil, fmt.Errorf("retry %s: not staged: %w", name, fs.ErrNotExist)
}
