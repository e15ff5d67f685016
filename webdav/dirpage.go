package webdav

import (
	"html/template"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/dustin/go-humanize"

	"fsm/vfs"
)

// controlURL is where the caller serves fsm's control page.
const controlURL = "/" + vfs.ControlPrefix + "/"

// dirPage is the folder listing for browsers.
var dirPage = template.Must(template.New("dir").Funcs(template.FuncMap{
	"bytes": func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>fsm: {{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:.25em 1em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}
</style></head><body>
<h1>{{.Title}}</h1>
<p><a href="{{.Control}}">fsm control page</a> · read-only WebDAV: mount this URL in your file manager.</p>
<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead><tbody>
{{if .Parent}}<tr><td><a href="{{.Parent}}">../</a></td><td></td><td></td></tr>
{{end}}{{range .Entries}}<tr><td><a href="{{.Href}}">{{.Name}}{{if .IsDir}}/{{end}}</a></td><td class="n"{{if not .IsDir}} title="{{.Size}} bytes"{{end}}>{{if not .IsDir}}{{bytes .Size}}{{end}}</td><td>{{date .ModTime}}</td></tr>
{{else}}<tr><td colspan="3">No files staged.</td></tr>
{{end}}</tbody></table>
</body></html>
`))

type dirEntry struct {
	Name, Href string
	IsDir      bool
	Size       int64
	ModTime    time.Time
}

// href is the absolute, escaped URL path of a tree path.
func href(p string, dir bool) string {
	if p == "" {
		return "/"
	}
	u := "/" + (&url.URL{Path: p}).EscapedPath()
	if dir {
		u += "/"
	}
	return u
}

// serveDir answers GET on a folder with a plain HTML listing.
func (s *server) serveDir(w http.ResponseWriter, r *http.Request, info vfs.Info) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	list, err := s.fs.ReadDir(info.Path)
	if err != nil && info.Path != "" {
		notFound(w)
		return
	}
	data := struct {
		Title, Control, Parent string
		Entries                []dirEntry
	}{Title: "/" + info.Path, Control: controlURL}
	if info.Path != "" {
		data.Title += "/"
		parent := path.Dir(info.Path)
		if parent == "." {
			parent = ""
		}
		data.Parent = href(parent, true)
	}
	for _, in := range list {
		data.Entries = append(data.Entries, dirEntry{
			Name: in.Name(), Href: href(in.Path, in.IsDir), IsDir: in.IsDir, Size: in.Size, ModTime: in.ModTime,
		})
	}
	if err := dirPage.Execute(w, data); err != nil {
		s.log.Debug("folder page", "path", info.Path, "err", err)
	}
}
