package lokinet

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lokicall/lokicall/testnet/netnstest"
)

// TestWatchInterfaceTUN watches a real TUN interface in a fresh network
// namespace while it is created, set down and up, removed (a daemon that
// stops) and created again with another address (a daemon that restarts
// with another range). Each change must be reported well within the
// watcher's recheck interval, that is from the kernel's notifications.
func TestWatchInterfaceTUN(t *testing.T) {
	if !netnstest.Rerun(t) {
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
	f := netnstest.AddTUN(t, name, first)
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
	f = netnstest.AddTUN(t, name, second)
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
