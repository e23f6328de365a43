package signalling

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/lokicall/lokicall/testnet/netnstest"
)

// TestSilentlyDeadConnectionNoticed: in a network namespace of its own, a
// signalling connection's packets start being dropped (no reset, no FIN:
// a path that died silently). The side with a message in flight and the
// side only waiting to receive both see the connection fail, through
// TCP_USER_TIMEOUT and keepalive, instead of waiting forever.
func TestSilentlyDeadConnectionNoticed(t *testing.T) {
	netnstest.Enter(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	const dead = 2 * time.Second
	sender := NewConn(nc, ConnOptions{DeadAfter: dead})
	defer sender.Close()
	waiter := NewConn(peer, ConnOptions{DeadAfter: dead})
	defer waiter.Close()
	ringing := Message{Version: Version, Type: TypeRinging, CallID: callID}
	if err := sender.Send(context.Background(), ringing); err != nil {
		t.Fatal(err)
	}
	if _, err := waiter.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Drop every packet from now on.
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "silence"})
	drop := nftables.ChainPolicyDrop
	c.AddChain(&nftables.Chain{Name: "input", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	type result struct {
		err error
		at  time.Duration
	}
	receive := func(conn *Conn, out chan<- result) {
		_, err := conn.Receive(context.Background())
		out <- result{err, time.Since(start)}
	}
	sent, waited := make(chan result, 1), make(chan result, 1)
	if err := sender.Send(context.Background(), ringing); err != nil {
		t.Fatal(err)
	}
	go receive(sender, sent)
	go receive(waiter, waited)
	// The sender's message is never acknowledged: DeadAfter. The waiter has
	// nothing in flight: keepalive probes, given up DeadAfter after the last
	// packet heard, at the next probe.
	ka := keepAlive(dead)
	for _, c := range []struct {
		name  string
		ch    chan result
		limit time.Duration
	}{
		{"sender", sent, dead + 2*time.Second},
		{"waiter", waited, dead + ka.Interval + 2*time.Second},
	} {
		select {
		case r := <-c.ch:
			t.Logf("%s: %v after the path died: %v", c.name, r.at.Round(time.Millisecond), r.err)
			if !errors.Is(r.err, syscall.ETIMEDOUT) {
				t.Errorf("%s: %v, want a timed-out connection", c.name, r.err)
			}
			if r.at > c.limit {
				t.Errorf("%s: noticed after %v, want within %v", c.name, r.at, c.limit)
			}
		case <-time.After(c.limit + 10*time.Second):
			t.Fatalf("%s: the dead connection was not noticed", c.name)
		}
	}
}
