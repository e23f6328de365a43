package signalling

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestConnWatchesTCP: a signalling connection over TCP, dialled or
// accepted, has keepalive on and TCP_USER_TIMEOUT set, so that the kernel
// gives a silently dead connection up.
func TestConnWatchesTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const dead = 7 * time.Second
	for name, raw := range map[string]net.Conn{"dialled": nc, "accepted": <-accepted} {
		c := NewConn(raw, ConnOptions{DeadAfter: dead})
		defer c.Close()
		sc, err := raw.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var ka, uto int
		var kerr, uerr error
		if err := sc.Control(func(fd uintptr) {
			ka, kerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			uto, uerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		}); err != nil {
			t.Fatal(err)
		}
		if kerr != nil || uerr != nil {
			t.Fatal(kerr, uerr)
		}
		if ka != 1 || time.Duration(uto)*time.Millisecond != dead {
			t.Errorf("%s: SO_KEEPALIVE %d, TCP_USER_TIMEOUT %d ms; want 1 and %v", name, ka, uto, dead)
		}
	}
}
