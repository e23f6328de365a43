package ice

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/signalling"
)

// twoNetworks is a host with a Lokinet interface and a public interface, each
// a vnet.Net on its own router: pion sees one transport.Net with both
// interfaces, as on a real machine running Lokinet.
type twoNetworks struct {
	loki, public     *vnet.Net
	lokiIP, publicIP net.IP
}

func (h *twoNetworks) pick(ip net.IP) transport.Net {
	if ip != nil && h.publicIP.Equal(ip) {
		return h.public
	}
	return h.loki
}

func (h *twoNetworks) ListenPacket(network, address string) (net.PacketConn, error) {
	ua, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return h.pick(ua.IP).ListenPacket(network, address)
}

func (h *twoNetworks) ListenUDP(network string, l *net.UDPAddr) (transport.UDPConn, error) {
	return h.pick(l.IP).ListenUDP(network, l)
}

func (h *twoNetworks) ListenTCP(network string, l *net.TCPAddr) (transport.TCPListener, error) {
	return h.pick(l.IP).ListenTCP(network, l)
}

func (h *twoNetworks) Dial(network, address string) (net.Conn, error) {
	ua, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return h.pick(ua.IP).Dial(network, address)
}

func (h *twoNetworks) DialUDP(network string, l, r *net.UDPAddr) (transport.UDPConn, error) {
	return h.pick(r.IP).DialUDP(network, l, r)
}

func (h *twoNetworks) DialTCP(network string, l, r *net.TCPAddr) (transport.TCPConn, error) {
	return h.pick(r.IP).DialTCP(network, l, r)
}

func (h *twoNetworks) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	return h.loki.ResolveIPAddr(network, address)
}

func (h *twoNetworks) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	return h.loki.ResolveUDPAddr(network, address)
}

func (h *twoNetworks) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	return h.loki.ResolveTCPAddr(network, address)
}

// Interfaces reports lokitun0 (the Lokinet vnet's eth0) and eth0 (the public
// vnet's eth0).
func (h *twoNetworks) Interfaces() ([]*transport.Interface, error) {
	rename := func(n *vnet.Net, name string, index int) (*transport.Interface, error) {
		src, err := n.InterfaceByName("eth0")
		if err != nil {
			return nil, err
		}
		ifc := transport.NewInterface(net.Interface{Index: index, MTU: 1500, Name: name, Flags: net.FlagUp | net.FlagMulticast})
		addrs, err := src.Addrs()
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			ifc.AddAddress(a)
		}
		return ifc, nil
	}
	l, err := rename(h.loki, "lokitun0", 2)
	if err != nil {
		return nil, err
	}
	p, err := rename(h.public, "eth0", 3)
	if err != nil {
		return nil, err
	}
	return []*transport.Interface{l, p}, nil
}

func (h *twoNetworks) InterfaceByIndex(index int) (*transport.Interface, error) {
	ifs, err := h.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifs {
		if i.Index == index {
			return i, nil
		}
	}
	return nil, transport.ErrInterfaceNotFound
}

func (h *twoNetworks) InterfaceByName(name string) (*transport.Interface, error) {
	ifs, err := h.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifs {
		if i.Name == name {
			return i, nil
		}
	}
	return nil, transport.ErrInterfaceNotFound
}

func (h *twoNetworks) CreateDialer(d *net.Dialer) transport.Dialer { return h.loki.CreateDialer(d) }

func (h *twoNetworks) CreateListenConfig(l *net.ListenConfig) transport.ListenConfig {
	return h.loki.CreateListenConfig(l)
}

// testbed is two hosts joined by a slow Lokinet router and a fast public
// router, with a count of every chunk the public router carries.
type testbed struct {
	alice, bob     *twoNetworks
	publicChunks   atomic.Int64
	lokiR, publicR *vnet.Router
}

func newTestbed(t *testing.T) *testbed {
	t.Helper()
	tb := &testbed{}
	var err error
	// Lokinet: a slow path (80 ms each way) like an onion path.
	tb.lokiR, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "172.16.0.0/16", MinDelay: 80 * time.Millisecond, LoggerFactory: LoggerFactory(nil)})
	if err != nil {
		t.Fatal(err)
	}
	// Public: direct and fast, so any policy that merely prefers the best
	// path would pick it.
	tb.publicR, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: LoggerFactory(nil)})
	if err != nil {
		t.Fatal(err)
	}
	tb.publicR.AddChunkFilter(func(vnet.Chunk) bool {
		tb.publicChunks.Add(1)
		return true
	})
	host := func(loki, public string) *twoNetworks {
		ln, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{loki}})
		if err != nil {
			t.Fatal(err)
		}
		pn, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{public}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.lokiR.AddNet(ln); err != nil {
			t.Fatal(err)
		}
		if err := tb.publicR.AddNet(pn); err != nil {
			t.Fatal(err)
		}
		return &twoNetworks{loki: ln, public: pn, lokiIP: net.ParseIP(loki), publicIP: net.ParseIP(public)}
	}
	tb.alice = host("172.16.0.1", "10.0.0.1")
	tb.bob = host("172.16.0.2", "10.0.0.2")
	if err := tb.lokiR.Start(); err != nil {
		t.Fatal(err)
	}
	if err := tb.publicR.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tb.lokiR.Stop()
		_ = tb.publicR.Stop()
	})
	return tb
}

func vnetNode(ip string) lokinet.Node {
	return lokinet.Node{
		Address:   lokinettest.RandomAddress(),
		IP:        netip.MustParseAddr(ip),
		Interface: "lokitun0",
		Range:     netip.MustParsePrefix("172.16.0.0/16"),
	}
}

// side is one peer of a test call with what it gathered.
type side struct {
	ep    *Endpoint
	pc    *webrtc.PeerConnection
	node  lokinet.Node
	mu    sync.Mutex
	local []webrtc.ICECandidate
	out   chan signalling.Candidate
	done  chan struct{}
	up    chan struct{}
}

func newSide(t *testing.T, node lokinet.Node, nw transport.Net) *side {
	t.Helper()
	ep, err := NewEndpoint(Config{Node: node, Net: nw})
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
	s := &side{ep: ep, pc: pc, node: node, out: make(chan signalling.Candidate, 16), done: make(chan struct{}), up: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(s.up) })
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			close(s.done)
			return
		}
		s.mu.Lock()
		s.local = append(s.local, *c)
		s.mu.Unlock()
		nc, err := ep.ExportCandidate(*c)
		if err != nil {
			t.Errorf("export %s: %v", c, err)
			return
		}
		s.out <- nc
	})
	return s
}

// connect runs offer/answer and candidate exchange between a and b as the
// call package does, each side resolving the other's name to its IP.
func connect(t *testing.T, a, b *side) {
	t.Helper()
	ctx := context.Background()
	offer, err := a.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckLocalSDP(offer.SDP); err != nil {
		t.Fatal(err)
	}
	if err := a.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := CheckRemoteSDP(offer.SDP); err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := b.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckLocalSDP(answer.SDP); err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	if err := a.pc.SetRemoteDescription(answer); err != nil {
		t.Fatal(err)
	}
	relay := func(from, to *side) {
		add := func(c signalling.Candidate) {
			init, err := to.ep.ImportCandidate(ctx, c, from.node.Address, func(context.Context, lokinet.Address) (netip.Addr, error) {
				return from.node.IP, nil
			})
			if err != nil {
				t.Errorf("import: %v", err)
				return
			}
			if err := to.pc.AddICECandidate(init); err != nil {
				t.Errorf("add: %v", err)
			}
		}
		for {
			select {
			case c := <-from.out:
				add(c)
			case <-from.done:
				// Gathering is over; pass on what is still queued.
				for {
					select {
					case c := <-from.out:
						add(c)
					default:
						return
					}
				}
			}
		}
	}
	go relay(a, b)
	go relay(b, a)
	for _, s := range []*side{a, b} {
		select {
		case <-s.up:
		case <-time.After(20 * time.Second):
			t.Fatal("peer connection did not connect")
		}
	}
}

func selectedPair(t *testing.T, pc *webrtc.PeerConnection) *webrtc.ICECandidatePair {
	t.Helper()
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	return pair
}

// TestOnionUsesOnlyLokinetWhenPublicIsFaster: with a faster public path
// available, onion mode gathers only the Lokinet candidate, connects over
// Lokinet and sends not one packet over the public network.
func TestOnionUsesOnlyLokinetWhenPublicIsFaster(t *testing.T) {
	tb := newTestbed(t)
	a := newSide(t, vnetNode("172.16.0.1"), tb.alice)
	b := newSide(t, vnetNode("172.16.0.2"), tb.bob)
	connect(t, a, b)
	for _, s := range []*side{a, b} {
		s.mu.Lock()
		if len(s.local) == 0 {
			t.Error("no local candidates")
		}
		for _, c := range s.local {
			if c.Address != s.node.IP.String() || c.Typ != webrtc.ICECandidateTypeHost {
				t.Errorf("gathered %s %s:%d, want only host %v", c.Typ, c.Address, c.Port, s.node.IP)
			}
		}
		s.mu.Unlock()
		pair := selectedPair(t, s.pc)
		if !strings.HasPrefix(pair.Local.Address, "172.16.") || !strings.HasPrefix(pair.Remote.Address, "172.16.") {
			t.Errorf("selected pair %s <-> %s, want both on Lokinet", pair.Local.Address, pair.Remote.Address)
		}
	}
	if n := tb.publicChunks.Load(); n != 0 {
		t.Errorf("%d packets crossed the public network in onion mode", n)
	}
}

// TestPlainPionPrefersPublicPath is the negative control for the test above:
// the same testbed with pion's default settings gathers the public address
// and sends packets over the public network, so the onion test can fail.
func TestPlainPionPrefersPublicPath(t *testing.T) {
	tb := newTestbed(t)
	mk := func(nw transport.Net) *webrtc.PeerConnection {
		var se webrtc.SettingEngine
		se.SetNet(nw)
		se.SetICEMulticastDNSMode(0)
		se.LoggerFactory = LoggerFactory(nil)
		pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close() })
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
		return pc
	}
	a, b := mk(tb.alice), mk(tb.bob)
	gathered := func(pc *webrtc.PeerConnection) <-chan struct{} { return webrtc.GatheringCompletePromise(pc) }
	offer, _ := a.CreateOffer(nil)
	ga := gathered(a)
	if err := a.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-ga
	if err := b.SetRemoteDescription(*a.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, _ := b.CreateAnswer(nil)
	gb := gathered(b)
	if err := b.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gb
	if err := CheckLocalSDP(a.LocalDescription().SDP); err == nil {
		t.Error("CheckLocalSDP accepted an SDP with candidates on the public network")
	}
	up := make(chan struct{})
	var once sync.Once
	a.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(up) })
		}
	})
	if err := a.SetRemoteDescription(*b.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-up:
	case <-time.After(20 * time.Second):
		t.Fatal("plain pion did not connect")
	}
	if !strings.Contains(a.LocalDescription().SDP, "10.0.0.1") {
		t.Error("plain pion did not gather the public address")
	}
	if tb.publicChunks.Load() == 0 {
		t.Error("plain pion sent nothing over the public network: the testbed cannot tell a leak")
	}
}
