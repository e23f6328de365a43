package call

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"

	"github.com/lokicall/lokicall/ice"
)

// deadOnionMedia is the host network with UDP over the Lokinet range cut:
// signalling (TCP) still crosses Lokinet but no media packet does, as when
// Lokinet cannot build a path for the call's UDP.
type deadOnionMedia struct {
	transport.Net
	lokinet netip.Prefix
}

func (n *deadOnionMedia) ListenUDP(network string, l *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, l)
	if err != nil {
		return nil, err
	}
	if a, ok := netip.AddrFromSlice(l.IP); ok && n.lokinet.Contains(a.Unmap()) {
		return droppingConn{c}, nil
	}
	return c, nil
}

// droppingConn silently drops everything it is asked to send.
type droppingConn struct{ transport.UDPConn }

func (droppingConn) WriteTo(b []byte, _ net.Addr) (int, error)        { return len(b), nil }
func (droppingConn) WriteToUDP(b []byte, _ *net.UDPAddr) (int, error) { return len(b), nil }
func (droppingConn) WriteMsgUDP(b, oob []byte, _ *net.UDPAddr) (int, int, error) {
	return len(b), len(oob), nil
}

func deadOnion(t *testing.T) transport.Net {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return &deadOnionMedia{Net: n, lokinet: netip.MustParsePrefix("127.77.0.0/16")}
}

// TestFallbackToRelay: with consent on both sides, a call whose onion media
// path cannot be built completes over TURN relays, and the caller announced
// the fallback before the TURN server saw its first packet. Without a
// fallback the same call ends with a reason and the server sees nothing.
func TestFallbackToRelay(t *testing.T) {
	alice, bob := newExposedPeers(t, "127.77.9.1", "127.77.9.2")
	server, turnConn := startTURN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	bcfg := bob.config("tone:660", "null", 0)
	bcfg.Servers, bcfg.AllowIPExposure, bcfg.Net = []ice.Server{server}, true, deadOnion(t)
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: 17793, Accept: AcceptAll, MaxCalls: 1})
	acfg := alice.config("tone:440", "null", time.Second)
	acfg.Servers, acfg.AllowIPExposure, acfg.Net = []ice.Server{server}, true, deadOnion(t)
	acfg.Fallback, acfg.FallbackAfter = ice.ModeRelay, 3*time.Second
	target := bob.target(17793)
	stats, err := Dial(ctx, acfg, target)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("callee: %v", err)
	}
	if stats.Mode != "relay" || stats.LocalCandidate != "relay" || stats.PacketsReceived == 0 {
		t.Errorf("mode %s, local %s, %d packets: want audio over relay", stats.Mode, stats.LocalCandidate, stats.PacketsReceived)
	}
	var announced time.Time
	alice.mu.Lock()
	for _, ev := range alice.evs {
		if ev.Kind == EventState && ev.State == StateFallback && announced.IsZero() {
			announced = ev.Time
		}
	}
	alice.mu.Unlock()
	var firstTURN time.Time
	if ns := turnConn.first.Load(); ns != 0 {
		firstTURN = time.Unix(0, ns)
	}
	if announced.IsZero() || firstTURN.IsZero() || !announced.Before(firstTURN) {
		t.Errorf("fallback announced at %v, first TURN packet at %v: the announcement must come first", announced, firstTURN)
	}
}

func TestNoFallbackWithoutConsent(t *testing.T) {
	alice, bob := newExposedPeers(t, "127.77.10.1", "127.77.10.2")
	server, turnConn := startTURN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The caller has not opted in: the onion attempt fails with a reason
	// and nothing reaches the TURN server.
	bcfg := bob.config("silence", "null", 0)
	bcfg.Net = deadOnion(t)
	bcfg.SetupTimeout = 4 * time.Second
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: 17794, Accept: AcceptAll, MaxCalls: 2})
	acfg := alice.config("silence", "null", time.Second)
	acfg.Servers, acfg.Net, acfg.SetupTimeout = []ice.Server{server}, deadOnion(t), 3*time.Second
	target := bob.target(17794)
	if _, err := Dial(ctx, acfg, target); !errors.Is(err, ErrMediaFailed) {
		t.Errorf("no fallback: %v, want ErrMediaFailed", err)
	}

	// The caller opted in but the callee has not: it refuses the restart.
	acfg.AllowIPExposure, acfg.Fallback, acfg.FallbackAfter = true, ice.ModeRelay, 3*time.Second
	if _, err := Dial(ctx, acfg, target); !errors.Is(err, ErrRejected) {
		t.Errorf("callee without consent: %v, want ErrRejected", err)
	}
	<-done
	if !bob.has(EventState, func(ev Event) bool { return ev.Reason == "fallback-refused" }) {
		t.Error("the callee did not report refusing the fallback")
	}
	_ = turnConn
}
