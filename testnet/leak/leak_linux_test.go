package leak

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lokicall/lokicall/testnet/netnstest"
)

// TestCountsInFreshNamespace installs the counters in a new network
// namespace and checks that datagrams from sockets owned by DefaultUID (the
// thread's fsuid, which the kernel gives new sockets) to the resolver
// address and elsewhere on loopback land in the right counters, and that
// root's do not count.
func TestCountsInFreshNamespace(t *testing.T) {
	netnstest.Enter(t)
	cfg := Config{Table: "leak_test"}
	if err := Install(cfg); err != nil {
		t.Fatal(err)
	}
	defer Remove(cfg)
	send := func(addr string) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	send("127.0.0.3:9") // as root: exempt
	if _, _, errno := unix.RawSyscall(unix.SYS_SETFSUID, DefaultUID, 0, 0); errno != 0 {
		t.Fatal(errno)
	}
	send("127.3.2.1:53")
	send("127.0.0.2:9")
	send("127.0.0.2:9")
	c, err := Read(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Resolver.Packets != 1 || c.Leaked.Packets != 2 || c.Lokinet.Packets != 0 {
		t.Fatalf("counts %+v, want resolver 1, leaked 2, lokinet 0", c)
	}
	if !c.Leak() {
		t.Fatal("Leak() = false with leaked packets")
	}
}
