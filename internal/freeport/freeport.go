// Package freeport finds a port no one listens on, for a child process to
// listen on.
package freeport

import (
	"fmt"
	"net"
	"net/netip"
)

// TCP4 returns a TCP port free on ip now (the kernel's choice; another
// process may take it before the caller does).
func TCP4(ip netip.Addr) (int, error) {
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return 0, fmt.Errorf("free port on %s: %w", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
