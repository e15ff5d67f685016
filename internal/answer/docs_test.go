package answer_test

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListOneTable: docs/API.md and docs/WEBDAV.md show the same table
// of failures, and it names every code answer.For gives.
func TestDocsListOneTable(t *testing.T) {
	table := func(file string) string {
		b, err := os.ReadFile("../../docs/" + file)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(b), "| cause | status | `code` |\n")
		if !ok {
			t.Fatalf("docs/%s has no table of failures", file)
		}
		rows, _, _ := strings.Cut(rest, "\n\n")
		return rows
	}
	api, dav := table("API.md"), table("WEBDAV.md")
	if api != dav {
		t.Fatalf("the tables differ:\ndocs/API.md:\n%s\ndocs/WEBDAV.md:\n%s", api, dav)
	}
	for _, c := range sentinelCodes {
		if !strings.Contains(api, "| `"+c.status+"` | `"+string(c.code)+"` |") {
			t.Errorf("the table has no row with %s and code %s", c.status, c.code)
		}
	}
}
