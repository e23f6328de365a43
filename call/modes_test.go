package call

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/lokicall/lokicall/ice"
)

// countingConn counts the packets a TURN server receives.
type countingConn struct {
	net.PacketConn
	packets atomic.Int64
	// first is when the first packet arrived, in Unix nanoseconds.
	first atomic.Int64
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err == nil && c.packets.Add(1) == 1 {
		c.first.Store(time.Now().UnixNano())
	}
	return n, a, err
}

// startTURN runs a TURN server on 127.0.0.1 that relays on 127.0.0.1, and
// counts every packet it receives.
func startTURN(t *testing.T) (ice.Server, *countingConn) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{PacketConn: pc}
	const realm, user, pass = "lokicall.test", "alice", "secret"
	key := turn.GenerateAuthKey(user, realm, pass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: realm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == user
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            cc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	s, err := ice.ParseServer("turn:"+pc.LocalAddr().String()+"?transport=udp", user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return s, cc
}

// newExposedPeers is newPeers with both nodes' "Lokinet range" narrowed to
// 127.77.0.0/16, so that a TURN server on 127.0.0.1 counts as outside
// Lokinet.
func newExposedPeers(t *testing.T, aliceIP, bobIP string) (*peer, *peer) {
	t.Helper()
	alice, bob := newPeers(t, aliceIP, bobIP)
	for _, p := range []*peer{alice, bob} {
		p.node.Range = netip.MustParsePrefix("127.77.0.0/16")
	}
	return alice, bob
}

// TestRelayModeCall: with consent on both sides, a relay-mode call completes
// with a relay candidate on each side, announced before any media packet.
func TestRelayModeCall(t *testing.T) {
	alice, bob := newExposedPeers(t, "127.77.6.1", "127.77.6.2")
	server, turnConn := startTURN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	bcfg := bob.config("tone:660", "null", 0)
	bcfg.Servers, bcfg.AllowIPExposure = []ice.Server{server}, true
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: 17790, Accept: AcceptAll, MaxCalls: 1})
	acfg := alice.config("tone:440", "null", time.Second)
	acfg.Mode, acfg.Servers, acfg.AllowIPExposure = ice.ModeRelay, []ice.Server{server}, true
	target := bob.target(17790)
	stats, err := Dial(ctx, acfg, target)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("callee: %v", err)
	}
	if stats.Mode != "relay" || stats.LocalCandidate != "relay" || stats.RemoteCandidate != "relay" {
		t.Errorf("mode %s, pair %s -> %s, want relay -> relay", stats.Mode, stats.LocalCandidate, stats.RemoteCandidate)
	}
	if stats.PacketsReceived == 0 {
		t.Error("no audio received")
	}
	if turnConn.packets.Load() == 0 {
		t.Error("the TURN server saw no packets")
	}
	if !alice.has(EventExposure, func(ev Event) bool {
		return ev.Mode == "relay" && strings.Contains(ev.Message, server.URL)
	}) {
		t.Error("no ip-exposure event announced the relay mode and named its TURN server")
	}
}

// TestExposingModesNeedConsent: without consent the caller refuses to start
// and a callee refuses a caller who asks for an exposing mode.
func TestExposingModesNeedConsent(t *testing.T) {
	alice, bob := newExposedPeers(t, "127.77.7.1", "127.77.7.2")
	server, _ := startTURN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target := bob.target(17791)

	acfg := alice.config("silence", "null", time.Second)
	acfg.Mode, acfg.Servers = ice.ModeP2P, []ice.Server{server}
	if _, err := Dial(ctx, acfg, target); !errors.Is(err, ErrPolicy) {
		t.Errorf("caller without consent: %v, want ErrPolicy", err)
	}

	done := listen(t, ctx, bob, ListenConfig{Config: bob.config("silence", "null", 0), Port: 17791, Accept: AcceptAll, MaxCalls: 1})
	acfg.Mode, acfg.AllowIPExposure = ice.ModeRelay, true
	if _, err := Dial(ctx, acfg, target); !errors.Is(err, ErrRejected) {
		t.Errorf("callee without consent: caller got %v, want ErrRejected", err)
	}
	<-done
	if !bob.has(EventState, func(ev Event) bool { return ev.Reason == "mode-refused" }) {
		t.Error("the callee did not report refusing the mode")
	}
}

// TestOnionIgnoresConfiguredServers: onion mode with STUN/TURN servers
// configured sends them nothing.
func TestOnionIgnoresConfiguredServers(t *testing.T) {
	alice, bob := newPeers(t, "127.77.8.1", "127.77.8.2")
	server, turnConn := startTURN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bcfg := bob.config("silence", "null", 0)
	bcfg.Servers, bcfg.AllowIPExposure = []ice.Server{server}, true
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: 17792, Accept: AcceptAll, MaxCalls: 1})
	acfg := alice.config("tone:440", "null", time.Second)
	acfg.Servers, acfg.AllowIPExposure = []ice.Server{server}, true
	target := bob.target(17792)
	stats, err := Dial(ctx, acfg, target)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if stats.Mode != "onion" || stats.LocalCandidate != "host" {
		t.Errorf("mode %s local %s, want onion host", stats.Mode, stats.LocalCandidate)
	}
	if n := turnConn.packets.Load(); n != 0 {
		t.Errorf("onion mode sent %d packets to the configured TURN server", n)
	}
}

// TestExposingCalleeRevealsNothingBeforeAccept: a callee that consents to
// exposing modes but declines the call never gathers, so neither the caller
// nor a TURN server learns its addresses.
func TestExposingCalleeRevealsNothingBeforeAccept(t *testing.T) {
	alice, bob := newExposedPeers(t, "127.77.11.1", "127.77.11.2")
	server, turnConn := startTURN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bcfg := bob.config("silence", "null", 0)
	bcfg.Servers, bcfg.AllowIPExposure = []ice.Server{server}, true
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: 17795, Accept: DeclineAll, MaxCalls: 1})
	acfg := alice.config("silence", "null", time.Second)
	acfg.Mode, acfg.AllowIPExposure = ice.ModeP2P, true // no servers: alice itself never contacts the TURN server
	target := bob.target(17795)
	if _, err := Dial(ctx, acfg, target); !errors.Is(err, ErrRejected) {
		t.Fatalf("dial: %v, want ErrRejected", err)
	}
	<-done
	if n := turnConn.packets.Load(); n != 0 {
		t.Errorf("the declining callee sent %d packets to its TURN server", n)
	}
}
