package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"fsm/control/api"
)

// probeTimeout bounds asking a server named by a token file whether it
// runs: a loopback answer takes microseconds.
const probeTimeout = 500 * time.Millisecond

// otherServers are the addresses (as --server takes them) of the fsm
// servers, other than the one at skip, whose token files this user's cache
// holds and that answer on their control API: what to suggest when no
// server answers where the CLI looked. A token file whose server crashed
// without removing it names a port that no longer answers, and is skipped.
func otherServers(skip string) []string {
	first, err := tokenFile("127.0.0.1:8080")
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(filepath.Dir(first))
	if err != nil {
		return nil
	}
	var (
		mu    sync.Mutex // guards found
		found []string
		wg    sync.WaitGroup
	)
	for _, e := range entries {
		addr, ok := tokenFileAddr(e.Name())
		if !ok {
			continue
		}
		base, dial, err := serverURL(addr)
		if err != nil || dial == skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if answersAsFSM(base) {
				mu.Lock()
				found = append(found, addr)
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

// answersAsFSM reports whether base answers GET info as an fsm server does
// (200, or 401 when it wants basic auth).
func answersAsFSM(base string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.Base+api.PathInfo, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
}
