package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/testnet/netnstest"
)

// TestE2EListenFollowsLokinet: `lokicall listen` runs as a service would,
// in a fresh network namespace with a real TUN interface for Lokinet. The
// daemon stops (its TUN and DNS go) and comes back with another range; the
// listener says so in --json, keeps running, listens again on the node's
// new address, and answers a call there.
func TestE2EListenFollowsLokinet(t *testing.T) {
	exe := os.Getenv("LOKICALL_TEST_EXE")
	if exe == "" {
		exe = buildLokicall(t)
		t.Setenv("LOKICALL_TEST_EXE", exe)
	}
	if !netnstest.Rerun(t) {
		return
	}
	const name = "lokitun0"
	nodes := e2eNodes(t, 57, "bob", "alice")
	bob, alice := nodes[0], nodes[1]
	addresses := func(bobIP, aliceIP netip.Addr) {
		bob.dns.SetSelfIP(bobIP)
		bob.dns.SetPeer(alice.addr.String(), aliceIP)
		alice.dns.SetSelfIP(aliceIP)
		alice.dns.SetPeer(bob.addr.String(), bobIP)
	}
	// Both nodes' addresses on one TUN: this namespace is both hosts.
	tunWith := func(bobIP, aliceIP netip.Addr) *os.File {
		f := netnstest.AddTUN(t, name, netip.PrefixFrom(bobIP, 16))
		link, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: aliceIP.AsSlice(), Mask: net.CIDRMask(16, 32)}}); err != nil {
			t.Fatal(err)
		}
		return f
	}
	firstBob, firstAlice := netip.MustParseAddr("172.16.0.1"), netip.MustParseAddr("172.16.0.2")
	newBob, newAlice := netip.MustParseAddr("10.67.0.1"), netip.MustParseAddr("10.67.0.2")
	addresses(firstBob, firstAlice)
	tun := tunWith(firstBob, firstAlice)

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events := make(chan call.Event, 64)
	listener, listenerErr := alsaPeer(ctx, t, &wg, "listener", exe, bob.env(), bob.dns.Addr(), func(ev call.Event) {
		if ev.CallID == "" && (ev.Kind == call.EventListen || ev.Kind == call.EventProgress) {
			t.Logf("listener: %s %s %s", ev.Kind, ev.Reason, ev.Message)
			events <- ev
		}
	}, "listen", "--accept", "auto", "--calls", "1", "--in", "silence", "--out", "null")
	done := make(chan error, 1)
	go func() { done <- listener.Wait() }()
	next := func(kind call.EventKind, reason, message string, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind && ev.Reason == reason && (message == "" || ev.Message == message) {
					return
				}
			case <-deadline:
				t.Fatalf("listener: no %s %s %s within %v\n%s", kind, reason, message, within, listenerErr)
			case err := <-done:
				t.Fatalf("listener exited (%v) waiting for %s %s\n%s", err, kind, reason, listenerErr)
			}
		}
	}
	port := itoa(int(call.DefaultPort))
	next(call.EventListen, "", net.JoinHostPort(firstBob.String(), port), 30*time.Second)

	// The daemon stops, then comes back with another range.
	bob.dns.SetDown(true)
	_ = tun.Close()
	next(call.EventProgress, call.ProgressLokinetDown, "", 2*time.Second)
	time.Sleep(time.Second)
	addresses(newBob, newAlice)
	tun = tunWith(newBob, newAlice)
	defer tun.Close()
	bob.dns.SetDown(false)
	next(call.EventProgress, call.ProgressLokinetBack, "", 5*time.Second)
	next(call.EventListen, "", net.JoinHostPort(newBob.String(), port), 2*time.Second)

	_, stderr, code := alice.run(t, ctx, exe, "--json", "call", bob.addr.String(), "--in", "tone:440", "--out", "null", "--duration", "2s")
	if code != 0 {
		t.Errorf("call to the listener's new address: exit %d\n%s", code, stderr)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("listener: %v\n%s", err, listenerErr)
		}
	case <-ctx.Done():
		t.Error("the listener did not end after its one call")
	}
}
