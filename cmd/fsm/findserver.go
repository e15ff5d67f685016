package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// probeTimeout bounds connecting to a server named by a token file: a
// loopback connect takes microseconds.
const probeTimeout = 500 * time.Millisecond

// otherServers are the addresses (as --server takes them) of the fsm
// servers, other than the one at skip, whose token files this user's cache
// holds and that still run: what to suggest when no server answers where
// the CLI looked. Each is checked as the CLI checks a server before
// talking to it (verify: the pid that wrote the file runs and, on Linux,
// holds the listening socket), on a connection that sends nothing; a token
// file a crashed fsm left names a process that has exited, and is skipped.
func otherServers(skip string) []string {
	first, err := tokenFile("127.0.0.1:8080")
	if err != nil {
		return nil
	}
	dir := filepath.Dir(first)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var (
		mu    sync.Mutex // guards found
		found []string
		wg    sync.WaitGroup
	)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		r, err := readTokenFile(p, true)
		if err != nil || r.pid == 0 {
			continue
		}
		addr := r.addr
		if !dialable(addr) {
			a, ok := tokenFileAddr(e.Name())
			if !ok {
				continue
			}
			addr = a
		}
		_, dial, err := serverURL(addr)
		if err != nil || dial == skip {
			continue
		}
		c := &apiClient{addr: dial, token: token{file: p, pid: r.pid, addr: r.addr}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.runs() {
				mu.Lock()
				found = append(found, dial)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(found)
	return slices.Compact(found)
}

// tokenFileAddr is the HOST:PORT a token file's name stands for (the
// inverse of tokenFile's naming): 127.0.0.1_8080, __1_8080 for [::1]:8080.
func tokenFileAddr(name string) (string, bool) {
	i := strings.LastIndexByte(name, '_')
	if i <= 0 || i == len(name)-1 {
		return "", false
	}
	host, port := name[:i], name[i+1:]
	if strings.Contains(host, "_") { // an IPv6 address, ':' written as '_'
		host = strings.ReplaceAll(host, "_", ":")
	}
	return net.JoinHostPort(host, port), true
}

// runs reports whether the fsm of c's token listens at c.addr: a
// connection to it passes verify. Nothing is sent.
func (c *apiClient) runs() bool {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	return c.verify(conn) == nil
}
