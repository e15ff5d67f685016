package desktop

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// mount_webdav's arguments, which ps shows every local user, never hold
// the password; it goes to the prompt on stdin.
func TestWebdavfsCommandKeepsThePasswordOutOfArgs(t *testing.T) {
	u, _ := url.Parse("http://someone:leaked@127.0.0.1:8080/")
	for _, tc := range []struct {
		opts      Options
		stdin     string
		prompting bool
	}{
		{Options{}, "", false},
		{Options{User: "me", Password: "pw s3cret"}, "me\npw s3cret\n", true},
	} {
		args, stdin := webdavfsCommand(u, tc.opts, "/Volumes/fsm-8080")
		joined := strings.Join(args, " ")
		if strings.Contains(joined, "s3cret") || strings.Contains(joined, "leaked") || strings.Contains(joined, "@") {
			t.Errorf("credentials in mount_webdav's arguments: %q", args)
		}
		if stdin != tc.stdin || slices.Contains(args, "-i") != tc.prompting {
			t.Errorf("user %q: stdin %q, args %q; want stdin %q and -i %v", tc.opts.User, stdin, args, tc.stdin, tc.prompting)
		}
		if want := []string{"http://127.0.0.1:8080/", "/Volumes/fsm-8080"}; !slices.Equal(args[len(args)-2:], want) {
			t.Errorf("args end %q, want %q", args[len(args)-2:], want)
		}
	}
}
