package index

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// links returns the targets of a page's <a href> links, resolved against
// the page's base URL: the first <base href> wherever it stands (as in
// HTML), else pageURL. Hrefs that do not parse as URLs are dropped, and so
// are empty and fragment-only ones: they point into the page itself, which
// a <base> would otherwise turn into a link to the base folder. The order
// is the page's, duplicates included.
func links(pageURL *url.URL, body []byte) []*url.URL {
	var hrefs []string
	base := pageURL
	baseSet := false
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			// io.EOF, or a read error that cannot happen on a byte
			// slice: the page ends here.
			return resolveAll(base, hrefs)
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if !hasAttr {
				continue
			}
			switch atom.Lookup(name) {
			case atom.A:
				if href, ok := attr(z, "href"); ok {
					hrefs = append(hrefs, href)
				}
			case atom.Base:
				if href, ok := attr(z, "href"); ok && !baseSet {
					baseSet = true
					if b, err := pageURL.Parse(cleanHref(href)); err == nil {
						base = b
					}
				}
			}
		}
	}
}

// attr returns the value of the current tag's attribute key, entities
// decoded by the tokenizer.
func attr(z *html.Tokenizer, key string) (string, bool) {
	for {
		k, v, more := z.TagAttr()
		if string(k) == key {
			return string(v), true
		}
		if !more {
			return "", false
		}
	}
}

func resolveAll(base *url.URL, hrefs []string) []*url.URL {
	out := make([]*url.URL, 0, len(hrefs))
	for _, h := range hrefs {
		h = cleanHref(h)
		if h == "" || h[0] == '#' {
			continue
		}
		u, err := base.Parse(h)
		if err != nil {
			continue
		}
		out = append(out, u)
	}
	return out
}

// cleanHref strips what HTML strips from a URL attribute before parsing
// it: leading and trailing ASCII whitespace, and tabs and newlines inside.
func cleanHref(h string) string {
	h = strings.Trim(h, " \t\n\f\r")
	return strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(h)
}
