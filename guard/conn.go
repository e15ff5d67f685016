package guard

import (
	"context"
	"net"
	"sync"
)

// connState is what the guards remember about one client connection: who
// owns its peer socket (looked up once, at its first request) and how many
// wrong credentials it has sent. ConnContext puts one in every
// connection's context.
type connState struct {
	peerOnce sync.Once
	peer     peerResult // set once by peerOnce

	mu       sync.Mutex // guards failures
	failures int
}

type connKey struct{}

// ConnContext is an http.Server's ConnContext: it gives each connection
// the state Owner and BasicAuth keep per connection. Without it they treat
// every request as a new connection (correct, but Owner then looks the
// peer up on every request).
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, new(connState))
}

// stateOf returns the request's connection state, or a fresh one when the
// server has no ConnContext (a test's recorder).
func stateOf(ctx context.Context) *connState {
	if s, ok := ctx.Value(connKey{}).(*connState); ok {
		return s
	}
	return new(connState)
}
