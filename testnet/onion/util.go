package onion

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
)

// hostPort returns the host:port a URL points at, with the scheme's
// default port if it names none.
func hostPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("onion: directory URL %q: %w", raw, err)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func randomID() PathID {
	var id PathID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on Linux.
	return id
}
