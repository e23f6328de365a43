package ice

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

// startVnetTURN runs a STUN/TURN server at 10.0.0.100 on the testbed's
// public network.
func startVnetTURN(t *testing.T, tb *testbed) []Server {
	t.Helper()
	sn, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.0.0.100"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.publicR.AddNet(sn); err != nil {
		t.Fatal(err)
	}
	pc, err := sn.ListenPacket("udp4", "10.0.0.100:3478")
	if err != nil {
		t.Fatal(err)
	}
	const realm, user, pass = "lokicall.test", "user", "pass"
	key := turn.GenerateAuthKey(user, realm, pass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         realm,
		LoggerFactory: LoggerFactory(nil),
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == user
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP("10.0.0.100"), Address: "10.0.0.100", Net: sn,
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	stun, err := ParseServer("stun:10.0.0.100:3478", "", "")
	if err != nil {
		t.Fatal(err)
	}
	turnS, err := ParseServer("turn:10.0.0.100:3478?transport=udp", user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return []Server{stun, turnS}
}

// gather returns every candidate an endpoint of the given mode gathers on
// alice's two-network host.
func gather(t *testing.T, tb *testbed, mode Mode, servers []Server) []webrtc.ICECandidate {
	t.Helper()
	ep, err := NewEndpoint(Config{Mode: mode, Node: vnetNode("172.16.0.1"), Net: tb.alice, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close() })
	pc, err := ep.NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []webrtc.ICECandidate
	done := make(chan struct{})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			close(done)
			return
		}
		mu.Lock()
		got = append(got, *c)
		mu.Unlock()
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("gathering did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// TestCandidateSetPerMode: what each mode gathers on a host with a Lokinet
// and a public interface and a reachable STUN/TURN server.
func TestCandidateSetPerMode(t *testing.T) {
	tb := newTestbed(t)
	servers := startVnetTURN(t, tb)
	lokinetRange := netip.MustParsePrefix("172.16.0.0/16")
	types := func(cs []webrtc.ICECandidate) map[webrtc.ICECandidateType]int {
		m := map[webrtc.ICECandidateType]int{}
		for _, c := range cs {
			m[c.Typ]++
		}
		return m
	}
	describe := func(cs []webrtc.ICECandidate) string {
		var b strings.Builder
		for _, c := range cs {
			b.WriteString(c.Typ.String() + " " + c.Address + "; ")
		}
		return b.String()
	}

	before := tb.publicChunks.Load()
	onion := gather(t, tb, ModeOnion, servers)
	if got := types(onion); len(onion) != 1 || got[webrtc.ICECandidateTypeHost] != 1 || onion[0].Address != "172.16.0.1" {
		t.Errorf("onion gathered %s, want one host candidate on 172.16.0.1", describe(onion))
	}
	if n := tb.publicChunks.Load() - before; n != 0 {
		t.Errorf("onion mode sent %d packets on the public network with servers configured", n)
	}

	p2p := gather(t, tb, ModeP2P, servers)
	got := types(p2p)
	if got[webrtc.ICECandidateTypeHost] == 0 || got[webrtc.ICECandidateTypeRelay] == 0 {
		t.Errorf("p2p gathered %s, want host and relay candidates", describe(p2p))
	}
	for _, c := range p2p {
		if a, err := netip.ParseAddr(c.Address); err != nil || lokinetRange.Contains(a) {
			t.Errorf("p2p gathered %s %s: Lokinet addresses stay out of the exposed modes", c.Typ, c.Address)
		}
	}

	relay := gather(t, tb, ModeRelay, servers)
	if got := types(relay); len(relay) == 0 || got[webrtc.ICECandidateTypeRelay] != len(relay) {
		t.Errorf("relay gathered %s, want relay candidates only", describe(relay))
	}
	for _, c := range relay {
		if c.Address != "10.0.0.100" {
			t.Errorf("relay candidate on %s, want the TURN server's 10.0.0.100", c.Address)
		}
	}
}

func TestParseServer(t *testing.T) {
	good := []struct{ url, user, cred string }{
		{"stun:stun.example.org:3478", "", ""},
		{"turn:turn.example.org?transport=tcp", "u", "p"},
		{"turns:turn.example.org:5349", "u", "p"},
	}
	for _, g := range good {
		if _, err := ParseServer(g.url, g.user, g.cred); err != nil {
			t.Errorf("%s: %v", g.url, err)
		}
	}
	bad := []struct{ url, user, cred string }{
		{"http://example.org", "", ""},
		{"turn:turn.example.org", "", ""},
		{"stun:stun.example.org", "u", "p"},
		{"turn:turn.example.org?transport=sctp", "u", "p"},
		{"", "", ""},
		{"turn:[::1]x", "u", "p"}, // pion/stun recurses forever on these
		{"stuns:[b200d:]5", "", ""},
	}
	for _, b := range bad {
		if _, err := ParseServer(b.url, b.user, b.cred); err == nil {
			t.Errorf("%q accepted", b.url)
		}
	}
}
