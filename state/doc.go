// Package state is fsm's memory across restarts: the staged files of a
// persistent cache dir, with what their temp files hold, in one versioned
// JSON file (state.json) written atomically beside them.
//
// The file holds request headers (the user asked fsm to remember the
// file), so it is 0600 in the 0700 cache dir, and nothing here logs a
// header value. A damaged file, or one from an unknown version, is set
// aside with a warning: it never keeps fsm from starting.
package state
