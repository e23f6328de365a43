package call

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/testnet/netnstest"
)

// listeningOn lists the local addresses of this process's TCP sockets
// listening on port, as the kernel shows them.
func listeningOn(t *testing.T, port uint16) []netip.Addr {
	t.Helper()
	entries, err := ownSockets()
	if err != nil {
		t.Fatalf("list sockets: %v", err)
	}
	var out []netip.Addr
	for _, e := range entries {
		if (e.Proto == "tcp" || e.Proto == "tcp6") && e.Local.Port() == port && e.Remote.Port() == 0 {
			out = append(out, e.Local.Addr())
		}
	}
	return out
}

// listenerNews starts p listening with lc; next waits for the listener's
// own next progress or listening event (not a call's) of a kind and
// reason, failing the test on any other progress, after within, or if the
// listener ends first. done has Listen's result.
func listenerNews(t *testing.T, ctx context.Context, p *peer, lc ListenConfig) (next func(kind EventKind, reason string, within time.Duration) Event, done <-chan error) {
	t.Helper()
	events := make(chan Event, 64)
	inner := lc.Events
	lc.Events = func(ev Event) {
		inner(ev)
		if ev.CallID == "" && (ev.Kind == EventProgress || ev.Kind == EventListen) {
			events <- ev
		}
	}
	done = listen(t, ctx, p, lc)
	next = func(kind EventKind, reason string, within time.Duration) Event {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind && ev.Reason == reason {
					return ev
				}
				if ev.Kind != EventListen {
					t.Fatalf("listener: unexpected %s %s: %s", ev.Kind, ev.Reason, ev.Message)
				}
			case <-deadline:
				t.Fatalf("listener: no %s %s within %v", kind, reason, within)
			case err := <-done:
				t.Fatalf("listener ended while waiting for %s %s: %v", kind, reason, err)
			}
		}
	}
	return next, done
}

// callListener calls bob, listening for one call on port with its result
// on done, from alice and checks that the call was answered with audio.
func callListener(t *testing.T, ctx context.Context, alice, bob *peer, port uint16, done <-chan error) {
	t.Helper()
	stats, err := Dial(ctx, alice.config("tone:440", "null", time.Second), bob.target(port))
	if err != nil {
		t.Fatalf("call to the listener's address as Lokinet shows it now: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("listener's call: %v", err)
	}
	if stats.MediaMS <= 0 {
		t.Errorf("caller: no audio (media %.0f ms)", stats.MediaMS)
	}
}

// TestListenerFollowsLokinet: the callee's Lokinet daemon restarts while
// it listens: its interface goes away, its DNS refuses, and it comes back
// with another address for the node. The listener says Lokinet went away,
// holds no listening socket at all while it waits (never the wildcard nor
// any other address), says once that it is still waiting, and when Lokinet
// is back listens on the new address and the same port, where a new call
// is answered. The kernel's socket table is sampled throughout.
func TestListenerFollowsLokinet(t *testing.T) {
	const port = 17851
	alice, bob := newPeers(t, "127.77.51.1", "127.77.51.2")
	oldIP, newIP := bob.node.IP, netip.MustParseAddr("127.77.51.12")
	lokinetB := newFakeInterface(bob)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The socket table, sampled every 20 ms: a listening socket on the
	// port must be on bob's Lokinet address of the moment, and there must
	// be none while Lokinet is away.
	var (
		away    atomic.Bool // set once the listener said Lokinet went away, until it is back
		allowed atomic.Value
		bad     = map[netip.Addr]int{} // wrong socket → samples that saw it
		badMu   sync.Mutex
		samples atomic.Int64
	)
	allowed.Store(oldIP)
	sctx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			// The flags as they were before and after the listing: a
			// socket is wrong only if it is wrong by both.
			away0, want0 := away.Load(), allowed.Load().(netip.Addr)
			ips := listeningOn(t, port)
			away1, want1 := away.Load(), allowed.Load().(netip.Addr)
			samples.Add(1)
			for _, ip := range ips {
				if away0 && away1 || ip != want0 && ip != want1 {
					badMu.Lock()
					bad[ip]++
					badMu.Unlock()
				}
			}
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
		}
	})

	defer func() { // also when the test stops early
		stopSampling()
		sampling.Wait()
		badMu.Lock()
		defer badMu.Unlock()
		if len(bad) > 0 {
			t.Errorf("listening sockets on port %d outside the Lokinet address of the moment (address: samples): %v", port, bad)
		}
		if samples.Load() < 20 {
			t.Errorf("only %d samples of the socket table", samples.Load())
		}
	}()

	bcfg := bob.config("tone:660", "null", 0)
	bcfg.WatchLokinet = lokinetB.watch
	next, done := listenerNews(t, ctx, bob, ListenConfig{Config: bcfg, Port: port, Accept: AcceptAll, MaxCalls: 1, LokinetWait: time.Second})

	// The daemon stops: DNS refuses, the interface goes; it comes back
	// with another address for bob, in bob's view and in alice's.
	bob.dns.SetDown(true)
	bob.dns.SetSelfIP(newIP)
	lokinetB.set(lokinet.InterfaceState{})
	ev := next(EventProgress, ProgressLokinetDown, 2*time.Second)
	away.Store(true)
	t.Logf("listener: %s", ev.Message)
	if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(oldIP, port).String(), time.Second); err == nil {
		_ = c.Close()
		t.Errorf("a connection to the old address %s was accepted while Lokinet was away", oldIP)
	}
	ev = next(EventProgress, ProgressLokinetWaiting, 3*time.Second)
	t.Logf("listener: %s", ev.Message)
	time.Sleep(1500 * time.Millisecond) // said once only: next() fails on a second one

	alice.dns.SetPeer(bob.node.Address.String(), newIP)
	allowed.Store(newIP)
	away.Store(false)
	lokinetB.set(lokinet.InterfaceState{Up: true, Prefix: netip.PrefixFrom(newIP, 8)})
	time.Sleep(200 * time.Millisecond) // DNS follows the interface
	bob.dns.SetDown(false)
	next(EventProgress, ProgressLokinetBack, 5*time.Second)
	ev = next(EventListen, "", 2*time.Second)
	if want := netip.AddrPortFrom(newIP, port).String(); ev.Message != want {
		t.Errorf("listening again on %s, want %s", ev.Message, want)
	}

	// A new call to bob's new address is answered.
	callListener(t, ctx, alice, bob, port, done)
	if !bob.has(EventCaller, func(ev Event) bool { return ev.Peer == alice.node.Address.String() }) {
		t.Errorf("listener did not name the caller %s", alice.node.Address)
	}

}

// TestListenerFollowsTUN: the same with a real TUN interface in a fresh
// network namespace, followed by the real watcher (rtnetlink): the daemon
// stops (its TUN is removed), comes back with another range, and a call to
// the callee's new address is answered.
func TestListenerFollowsTUN(t *testing.T) {
	if !netnstest.Rerun(t) {
		return
	}
	const name, port = "lokitun0", 17852
	alice, bob := newPeers(t, "172.16.0.2", "172.16.0.1")
	for _, p := range []*peer{alice, bob} {
		p.node.Interface, p.node.Range = name, netip.MustParsePrefix("172.16.0.0/16")
	}
	tun := netnstest.AddTUN(t, name, netip.MustParsePrefix("172.16.0.1/16"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	next, done := listenerNews(t, ctx, bob, ListenConfig{Config: bob.config("tone:660", "null", 0), Port: port, Accept: AcceptAll, MaxCalls: 1})

	// The daemon stops: its DNS refuses and its TUN goes.
	bob.dns.SetDown(true)
	stopped := time.Now()
	_ = tun.Close()
	next(EventProgress, ProgressLokinetDown, time.Second)
	t.Logf("lokinet-down %v after the TUN went", time.Since(stopped).Round(time.Millisecond))
	if ips := listeningOn(t, port); len(ips) > 0 {
		t.Errorf("listening on %v while Lokinet is away, want nothing", ips)
	}

	// It comes back with another range: the TUN first, then its DNS.
	bobIP, aliceIP := netip.MustParseAddr("10.67.0.1"), netip.MustParseAddr("10.67.0.2")
	tun = netnstest.AddTUN(t, name, netip.PrefixFrom(bobIP, 16))
	defer tun.Close()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	// Alice's address on the same TUN: this namespace is both nodes.
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: aliceIP.AsSlice(), Mask: net.CIDRMask(16, 32)}}); err != nil {
		t.Fatal(err)
	}
	alice.node.IP, alice.node.Range = aliceIP, netip.MustParsePrefix("10.67.0.0/16")
	alice.dns.SetSelfIP(aliceIP)
	alice.dns.SetPeer(bob.node.Address.String(), bobIP)
	bob.dns.SetSelfIP(bobIP)
	bob.dns.SetPeer(alice.node.Address.String(), aliceIP)
	back := time.Now()
	bob.dns.SetDown(false)
	next(EventProgress, ProgressLokinetBack, 5*time.Second)
	ev := next(EventListen, "", 2*time.Second)
	t.Logf("listening again on %s %v after Lokinet's DNS answered", ev.Message, time.Since(back).Round(time.Millisecond))
	if want := netip.AddrPortFrom(bobIP, port).String(); ev.Message != want {
		t.Errorf("listening again on %s, want %s", ev.Message, want)
	}
	if ips := listeningOn(t, port); len(ips) != 1 || ips[0] != bobIP {
		t.Errorf("listening on %v, want %v only", ips, bobIP)
	}

	callListener(t, ctx, alice, bob, port, done)
}

// TestListenerResumesAtNewAddress: the callee's Lokinet daemon restarts
// mid-call with another address for the node, and the signalling
// connection breaks with it. The caller's view of the callee (the proxy)
// now leads to the callee's new address, where the listener listens again:
// the caller resumes the call there and both sides complete it.
func TestListenerResumesAtNewAddress(t *testing.T) {
	const port = 17855
	newIP := "127.77.55.12"
	var lokinetB *fakeInterface
	rc := runResumeCall(t, [2]string{"127.77.55.1", "127.77.55.2"}, port, nil, func(c *Config) {
		lokinetB = newFakeInterface(&peer{node: c.Node})
		c.WatchLokinet = lokinetB.watch
	}, func(rc *resumeCall) {
		rc.bob.dns.SetDown(true)
		rc.bob.dns.SetSelfIP(netip.MustParseAddr(newIP))
		lokinetB.set(lokinet.InterfaceState{})
		rc.proxy.retarget(net.JoinHostPort(newIP, itoa(port)))
		rc.proxy.reset()
		time.Sleep(time.Second)
		lokinetB.set(lokinet.InterfaceState{Up: true, Prefix: netip.MustParsePrefix(newIP + "/8")})
		time.Sleep(200 * time.Millisecond) // DNS follows the interface
		rc.bob.dns.SetDown(false)
	})
	rc.completedAndResumed(t, func(name string, _ *peer, d time.Duration) {
		t.Logf("%s: signalling resumed %v after the daemon stopped", name, d.Round(time.Millisecond))
	})
	if !rc.bob.has(EventListen, func(ev Event) bool { return ev.Message == net.JoinHostPort(newIP, itoa(port)) }) {
		t.Errorf("the listener did not listen again on %s", newIP)
	}
}
