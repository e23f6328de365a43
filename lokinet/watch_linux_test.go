package lokinet

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// inFreshNamespace runs the calling test again in a new network namespace
// (unshare -n) and reports whether this is that run.
func inFreshNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv("LOKINET_WATCH_NETNS") == "1" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace and a TUN interface)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1)")
	}
	if out, err := exec.Command(unshare, "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: %v %s", err, out)
	}
	cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "LOKINET_WATCH_NETNS=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a fresh network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("run in a fresh network namespace: %v", err)
	}
	return false
}

// addTUN creates a TUN interface like Lokinet's, with addr, up. It goes away
// when the returned file is closed, as when the daemon stops.
func addTUN(t *testing.T, name string, addr netip.Prefix) *os.File {
	t.Helper()
	tun := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: name, MTU: 1500},
		Mode:       netlink.TUNTAP_MODE_TUN,
		Flags:      netlink.TUNTAP_NO_PI | netlink.TUNTAP_TUN_EXCL,
		Queues:     1,
		NonPersist: true,
	}
	if err := netlink.LinkAdd(tun); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipn}); err != nil {
		t.Fatalf("address %s: %v", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatalf("bring %s up: %v", name, err)
	}
	return tun.Fds[0]
}

// TestWatchInterfaceTUN watches a real TUN interface in a fresh network
// namespace while it is created, set down and up, removed (a daemon that
// stops) and created again with another address (a daemon that restarts
// with another range). Each change must be reported well within the
// watcher's recheck interval, that is from the kernel's notifications.
func TestWatchInterfaceTUN(t *testing.T) {
	if !inFreshNamespace(t) {
		return
	}
	const name = "lokitun0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	states, err := WatchInterface(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what string, want InterfaceState) {
		t.Helper()
		start := time.Now()
		timeout := time.After(watchRecheck / 2)
		for {
			select {
			case st := <-states:
				if st == want {
					t.Logf("%s: %+v after %v", what, st, time.Since(start).Round(time.Millisecond))
					return
				}
				t.Logf("%s: passing state %+v", what, st)
			case <-timeout:
				t.Fatalf("%s: no state %+v within %v", what, want, watchRecheck/2)
			}
		}
	}
	expect("absent at start", InterfaceState{})

	first := netip.MustParsePrefix("172.16.0.1/16")
	f := addTUN(t, name, first)
	expect("created", InterfaceState{Up: true, Prefix: first})

	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetDown(link); err != nil {
		t.Fatal(err)
	}
	expect("set down", InterfaceState{})
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	expect("set up again", InterfaceState{Up: true, Prefix: first})

	f.Close()
	expect("removed", InterfaceState{})

	second := netip.MustParsePrefix("10.67.0.1/16")
	f = addTUN(t, name, second)
	defer f.Close()
	expect("created again with another range", InterfaceState{Up: true, Prefix: second})

	cancel()
	select {
	case _, ok := <-states:
		for ok {
			_, ok = <-states
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel is not closed after the context ended")
	}
}

func TestWatchInterfaceNeedsName(t *testing.T) {
	if _, err := WatchInterface(context.Background(), ""); err == nil {
		t.Fatal("no error for an empty interface name")
	}
}
