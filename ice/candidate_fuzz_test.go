package ice

import (
	"context"
	"net/netip"
	"testing"

	pionice "github.com/pion/ice/v4"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/signalling"
)

// FuzzImportCandidate: whatever a peer sends as a candidate, the onion
// endpoint gives pion only a UDP host candidate at the peer's Lokinet IP (as
// this node resolves it) and the p2p endpoint only the address the candidate
// names, never a Lokinet address or one of the refused kinds, however the
// other fields are crafted.
func FuzzImportCandidate(f *testing.F) {
	node := lokinet.Node{
		Address:   lokinettest.RandomAddress(),
		IP:        netip.MustParseAddr("127.77.0.1"),
		Interface: "lo",
		Range:     netip.MustParsePrefix("127.0.0.0/8"),
	}
	peer := lokinettest.RandomAddress()
	peerIP := netip.MustParseAddr("127.77.0.9")
	onion, err := NewEndpoint(Config{Node: node})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = onion.Close() })
	p2p, err := NewEndpoint(Config{Node: node, Mode: ModeP2P})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = p2p.Close() })
	resolve := func(context.Context, lokinet.Address) (netip.Addr, error) { return peerIP, nil }

	f.Add("1", uint16(1), "udp", uint32(2130706431), peer.String(), "", uint16(5000), "host")
	f.Add("abc+/", uint16(1), "udp", uint32(100), "", "203.0.113.5", uint16(3478), "relay")
	f.Add("1", uint16(1), "tcp", uint32(100), "", "198.51.100.2", uint16(9), "host")
	f.Add("f 1 udp 5 127.77.0.1 5000 typ host x", uint16(1), "udp", uint32(1), "", "203.0.113.5", uint16(1), "host")
	f.Add("1", uint16(1), "udp 1 127.77.0.7", uint32(1), "", "203.0.113.5", uint16(1), "srflx")
	f.Fuzz(func(t *testing.T, foundation string, component uint16, protocol string, priority uint32, name, address string, port uint16, typ string) {
		c := signalling.Candidate{Foundation: foundation, Component: component, Protocol: protocol, Priority: priority,
			Name: name, Address: address, Port: port, Type: typ}

		if init, err := onion.ImportCandidate(context.Background(), c, peer, resolve); err == nil {
			got, err := pionice.UnmarshalCandidate(init.Candidate)
			if err != nil {
				t.Fatalf("onion: imported %q that pion cannot parse: %v", init.Candidate, err)
			}
			if got.Address() != peerIP.String() || got.Port() != int(port) || got.Type() != pionice.CandidateTypeHost ||
				got.NetworkType() != pionice.NetworkTypeUDP4 {
				t.Fatalf("onion: %+v imported as %q", c, init.Candidate)
			}
		}

		if init, err := p2p.ImportCandidate(context.Background(), c, peer, resolve); err == nil {
			got, err := pionice.UnmarshalCandidate(init.Candidate)
			if err != nil {
				t.Fatalf("p2p: imported %q that pion cannot parse: %v", init.Candidate, err)
			}
			want, _ := netip.ParseAddr(address)
			addr, err := netip.ParseAddr(got.Address())
			if err != nil || addr.Unmap() != want.Unmap() || got.Port() != int(port) {
				t.Fatalf("p2p: %+v imported as %q: address or port differs", c, init.Candidate)
			}
			if node.Range.Contains(addr.Unmap()) || addr.IsUnspecified() || addr.IsMulticast() || addr.IsLinkLocalUnicast() {
				t.Fatalf("p2p: imported refused address %v from %+v", addr, c)
			}
			if rel := got.RelatedAddress(); rel != nil && rel.Address != "0.0.0.0" {
				t.Fatalf("p2p: imported related address %v from %+v", rel.Address, c)
			}
		}
	})
}
