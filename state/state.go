package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Version is the format written; a file of any other version is set aside.
const Version = 1

// FileName is the state file's name in the cache dir.
const FileName = "state.json"

// File is one staged file as a later run resumes it.
type File struct {
	Name   string      `json:"name"`
	URL    string      `json:"url"` // as staged, secrets included
	Header http.Header `json:"header,omitempty"`
	// What the origin told when it was staged: fetches after a restart
	// send these validators, so a changed file fails as changed.
	ResolvedURL  string    `json:"resolved_url,omitempty"`
	Size         int64     `json:"size"`
	ModTime      time.Time `json:"mtime"`
	ETag         string    `json:"etag,omitempty"`
	LastModified time.Time `json:"last_modified,omitzero"`
	ContentType  string    `json:"content_type,omitempty"`
	NoRange      bool      `json:"no_range,omitempty"`
	// AfterRead is the file's after-read policy ("" for the default).
	AfterRead string `json:"after_read,omitempty"`

	Temp   string     `json:"temp,omitempty"`   // temp file's name in the cache dir's files folder
	Ranges [][2]int64 `json:"ranges,omitempty"` // [start, end) held durably by the temp file
	Sums   []uint64   `json:"sums,omitempty"`   // CRC-64 per MiB of a file without validators
	Failed string     `json:"failed,omitempty"` // why it failed; "" if it did not
	// Changed says Failed is the origin's file changing.
	Changed bool `json:"changed,omitempty"`
	// Downloading says its download was running: it carries on at start.
	Downloading bool `json:"downloading,omitempty"`
	// Folder is the staged folder the file came from, nil for a file
	// staged alone: a restart puts the folder back with its files.
	Folder *Folder `json:"folder,omitempty"`
}

// Folder is a staged folder, as each of its files records it.
type Folder struct {
	Name   string      `json:"name"`
	URL    string      `json:"url"` // its index page, secrets included
	Depth  int         `json:"depth"`
	Header http.Header `json:"header,omitempty"`
	// Link is the file's URL as the index linked it (a refresh compares it).
	Link string `json:"link"`
}

// document is the file as written.
type document struct {
	Version int    `json:"version"`
	Files   []File `json:"files"`
}

// Load reads dir's state file. A missing one is no files; a damaged one or
// one of another version is renamed aside (FileName.bad-TIME) with a
// warning and also counts as no files.
func Load(dir string, log *slog.Logger) []File {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var doc document
	if err == nil {
		err = decode(b, &doc)
	}
	if err == nil {
		return doc.Files
	}
	aside := fmt.Sprintf("%s.bad-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if rerr := os.Rename(path, aside); rerr != nil {
		log.Warn("state file unusable and cannot be set aside; starting without staged files", "file", path, "err", err, "rename", rerr)
		return nil
	}
	log.Warn("state file unusable; set aside, starting without staged files", "file", path, "aside", aside, "err", err)
	return nil
}

func decode(b []byte, doc *document) error {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("damaged: %w", err)
	}
	if v.Version != Version {
		return fmt.Errorf("version %d, this fsm reads %d", v.Version, Version)
	}
	if err := json.Unmarshal(b, doc); err != nil {
		return fmt.Errorf("damaged: %w", err)
	}
	return nil
}

// encode is the document for files, as Save writes it.
func encode(files []File) ([]byte, error) {
	if files == nil {
		files = []File{}
	}
	b, err := json.MarshalIndent(document{Version: Version, Files: files}, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save replaces dir's state file with b atomically: a new file is written
// and synced beside it, then renamed over it, and the folder synced, so a
// crash leaves either the old state or the new one.
func save(dir string, b []byte) error {
	path := filepath.Join(dir, FileName)
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself; not every system can sync a folder
		d.Close()
	}
	return nil
}
