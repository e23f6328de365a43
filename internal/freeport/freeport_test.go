package freeport

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
)

func TestTCP4(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	p, err := TCP4(ip)
	if err != nil {
		t.Fatal(err)
	}
	if p <= 0 || p > 65535 {
		t.Fatalf("port %d", p)
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("port %d not free: %v", p, err)
	}
	ln.Close()
}
