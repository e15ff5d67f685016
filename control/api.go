package control

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"fsm/control/api"
	"fsm/internal/answer"

	"fsm/vfs"
	"golang.org/x/net/http/httpguts"
)

// maxBody bounds a request body: a staging request is a URL, a name and a
// few headers.
const maxBody = 64 << 10

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	// The escaped form keeps a name's "%2F" apart from its folder slashes.
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), apiPrefix)
	if !ok {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such API endpoint; the API is under "+apiPrefix)
		return
	}
	endpoint, escName, hasName := strings.Cut(rest, "/")
	switch {
	case endpoint == api.PathFiles && !hasName:
		switch r.Method {
		case http.MethodGet:
			s.listFiles(w)
		case http.MethodPost:
			if s.allowMutation(w, r) {
				s.stageFile(w, r)
			}
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case endpoint == api.PathFiles && escName != "":
		// POST is a file's retry only: other methods on a name ending in
		// /retry mean a file of that name.
		retry := false
		if base, ok := strings.CutSuffix(escName, api.PathRetry); ok && r.Method == http.MethodPost && base != "" {
			escName, retry = base, true
		}
		name, err := url.PathUnescape(escName)
		if err != nil {
			writeError(w, http.StatusBadRequest, api.CodeBadName, "bad file name in the path: "+err.Error())
			return
		}
		if retry {
			if s.allowMutation(w, r) {
				s.retryFile(w, r, name)
			}
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.getFile(w, name)
		case http.MethodDelete:
			if s.allowMutation(w, r) {
				s.unstageFile(w, r, name)
			}
		default:
			methodNotAllowed(w, "GET, DELETE")
		}
	case endpoint == api.PathInfo && !hasName:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		s.info(w)
	case endpoint == api.PathEvents && !hasName:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		s.events(w, r)
	default:
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such API endpoint: "+apiPrefix+rest)
	}
}

// allowMutation checks the bearer token and that the request does not come
// from another site's page; it answers the refusal itself.
func (s *Server) allowMutation(w http.ResponseWriter, r *http.Request) bool {
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r) {
		writeError(w, http.StatusForbidden, api.CodeForbidden, fmt.Sprintf("requests from %s may not change fsm's files", origin))
		return false
	}
	// With basic auth in front, Authorization carries the user's password;
	// the token then comes in its own header. Neither header can be sent by
	// another site's page without a CORS preflight, which fsm never grants.
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if v := r.Header.Get(api.TokenHeader); v != "" {
		got, ok = v, true
	}
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fsm"`)
		writeError(w, http.StatusUnauthorized, api.CodeUnauth, "missing or wrong bearer token: send the token fsm serve wrote to its token file (docs/API.md)")
		return false
	}
	return true
}

// sameOrigin reports whether an Origin header names this listener as the
// request reached it (the Host check has vetted r.Host already).
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" (sandboxed frames, file:) included
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) listFiles(w http.ResponseWriter) {
	// Folders first: a folder staged between the two calls then lists its
	// files at the top level for one answer, rather than losing them.
	folders := s.opts.FS.Folders()
	writeJSON(w, http.StatusOK, grouped(s.opts.FS.Entries(), folders, s.opts.Mounts()))
}

func (s *Server) getFile(w http.ResponseWriter, name string) {
	if o, ok := s.folderOf(name); ok {
		writeJSON(w, http.StatusOK, o)
		return
	}
	e, ok := s.opts.FS.Entry(name)
	if !ok {
		writeError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("%q is not staged", vfs.Clean(name)))
		return
	}
	writeJSON(w, http.StatusOK, objectOf(e, s.opts.Mounts()))
}

func (s *Server) stageFile(w http.ResponseWriter, r *http.Request) {
	var req api.StageRequest
	if status, code, err := decodeBody(w, r, &req); err != nil {
		writeError(w, status, code, err.Error())
		return
	}
	if req.URL == "" {
		writeError(w, http.StatusBadRequest, api.CodeBadURL, `"url" is required`)
		return
	}
	if req.Folder {
		s.stageFolder(w, r, req)
		return
	}
	if req.Depth != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, `"depth" is for folders: send it with "folder": true`)
		return
	}
	header, err := requestHeader(req.Headers)
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	ctx, cancel := s.stageContext(r)
	defer cancel()
	file, err := s.opts.FS.Stage(ctx, vfs.Request{URL: req.URL, Name: req.Name, Header: header})
	if err != nil {
		a := answer.For(err)
		s.log.Debug("stage refused", "status", a.Status, "code", a.Code, "err", err)
		writeAnswer(w, a)
		return
	}
	e, ok := s.opts.FS.Entry(file.Path())
	if !ok { // unstaged already by a concurrent request
		writeError(w, http.StatusConflict, api.CodeUnstaged, fmt.Sprintf("%q was unstaged while it was being staged", file.Path()))
		return
	}
	writeJSON(w, http.StatusCreated, objectOf(e, s.opts.Mounts()))
}

func (s *Server) unstageFile(w http.ResponseWriter, r *http.Request, name string) {
	unstage := s.opts.FS.Unstage
	switch q := r.URL.Query().Get("recursive"); q {
	case "", "false", "0":
	case "true", "1":
		unstage = s.opts.FS.UnstageFolder
	default:
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("recursive=%q: want true or false", q))
		return
	}
	if err := unstage(r.Context(), name); err != nil {
		writeAnswer(w, answer.For(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// retryFile makes another attempt at a file in error or failed and
// answers its object.
func (s *Server) retryFile(w http.ResponseWriter, r *http.Request, name string) {
	ctx, cancel := s.stageContext(r)
	defer cancel()
	file, err := s.opts.FS.Retry(ctx, name)
	if err != nil {
		writeAnswer(w, answer.For(err))
		return
	}
	e, ok := s.opts.FS.Entry(file.Path())
	if !ok {
		writeError(w, http.StatusConflict, api.CodeUnstaged, fmt.Sprintf("%q was unstaged while it was being retried", file.Path()))
		return
	}
	writeJSON(w, http.StatusOK, objectOf(e, s.opts.Mounts()))
}

func (s *Server) info(w http.ResponseWriter) {
	in := api.Info{Version: s.opts.Version, WebDAVURL: s.opts.WebDAVURL}
	for _, m := range s.opts.Mounts() {
		switch m.Kind {
		case MountFUSE:
			in.FUSEDir = m.Dir
		case MountDesktop:
			in.MountDir = m.Dir
		}
	}
	writeJSON(w, http.StatusOK, in)
}

// decodeBody reads one JSON object with no unknown fields and nothing after
// it, from a body of at most maxBody bytes. A refusal comes with its status
// and code.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) (int, api.Code, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return http.StatusUnsupportedMediaType, api.CodeBadMedia, fmt.Errorf("Content-Type %q: send application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Errorf("request body over %d bytes", maxBody)
		}
		return http.StatusBadRequest, api.CodeBadRequest, fmt.Errorf("read request body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return http.StatusBadRequest, api.CodeBadRequest, fmt.Errorf("bad JSON body: %w", err)
	}
	if dec.More() {
		return http.StatusBadRequest, api.CodeBadRequest, errors.New("bad JSON body: data after the object")
	}
	return 0, "", nil
}

// reservedHeaders are set by fsm itself on origin requests.
var reservedHeaders = map[string]bool{
	"Host": true, "Range": true, "If-Range": true, "Content-Length": true,
	"Transfer-Encoding": true, "Connection": true, "Te": true, "Upgrade": true,
	"Accept-Encoding": true, "Keep-Alive": true, "Proxy-Connection": true, "Trailer": true,
}

// requestHeader validates the per-source headers of a staging request.
func requestHeader(in map[string]string) (http.Header, error) {
	if len(in) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(in))
	for k, v := range in {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("header name %q is not a valid HTTP header name", k)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("header %s: its value has characters HTTP does not allow (CR, LF, NUL or another control character but tab)", k)
		}
		ck := http.CanonicalHeaderKey(k)
		if reservedHeaders[ck] {
			return nil, fmt.Errorf("header %s is set by fsm itself and cannot be given", ck)
		}
		h.Set(ck, v)
	}
	return h, nil
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, api.CodeBadMethod, "method not allowed here; allowed: "+allow)
}

// writeJSON writes v with status. Responses are never cached: they show
// live state.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer","code":"`+api.CodeInternal+`"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError answers {"error": msg, "code": code}, msg on one line.
func writeError(w http.ResponseWriter, status int, code api.Code, msg string) {
	writeJSON(w, status, api.Error{Error: answer.OneLine(msg), Code: code})
}

// writeAnswer answers an error of the store or the tree as answer.For
// mapped it, the same status WebDAV gives.
func writeAnswer(w http.ResponseWriter, a answer.Answer) {
	writeError(w, a.Status, a.Code, a.Message)
}
