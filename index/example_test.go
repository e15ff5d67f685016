package index_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"fsm/index"
)

// An nginx-style folder with one sub-folder: List returns every file under
// it, with its decoded path and the URL to stage.
func ExampleList() {
	pages := map[string]string{
		"/pub/":      `<a href="../">../</a> <a href="?C=M;O=A">sort</a> <a href="my%20file.iso">my file.iso</a> <a href="docs/">docs/</a>`,
		"/pub/docs/": `<a href="../">../</a> <a href="guide.pdf">guide.pdf</a>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, body)
	}))
	defer srv.Close()

	entries, err := index.List(context.Background(), srv.Client(), srv.URL+"/pub/", index.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range entries {
		fmt.Printf("%q %s\n", e.Path, strings.TrimPrefix(e.URL, srv.URL))
	}
	// Output:
	// ["docs" "guide.pdf"] /pub/docs/guide.pdf
	// ["my file.iso"] /pub/my%20file.iso
}
