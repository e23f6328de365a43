package ice

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/signalling"
)

func testEndpoint(t *testing.T) *Endpoint {
	t.Helper()
	node := lokinet.Node{
		Address:   lokinettest.RandomAddress(),
		IP:        netip.MustParseAddr("127.77.0.1"),
		Interface: "lo",
		Range:     netip.MustParsePrefix("127.0.0.0/8"),
	}
	ep, err := NewEndpoint(Config{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close() })
	return ep
}

func TestEndpointBindsOnlyTheLokinetAddress(t *testing.T) {
	ep := testEndpoint(t)
	if got := ep.LocalAddr().Addr(); got != ep.node.IP {
		t.Fatalf("media socket bound to %v, want %v", got, ep.node.IP)
	}
}

func TestNewEndpointRefusesAddressOutsideRange(t *testing.T) {
	_, err := NewEndpoint(Config{Node: lokinet.Node{
		IP:    netip.MustParseAddr("10.1.2.3"),
		Range: netip.MustParsePrefix("172.16.0.0/16"),
	}})
	if err == nil {
		t.Fatal("endpoint accepted a node address outside the Lokinet range")
	}
}

func TestExportCandidate(t *testing.T) {
	ep := testEndpoint(t)
	good := webrtc.ICECandidate{Foundation: "1", Priority: 100, Address: "127.77.0.1", Protocol: webrtc.ICEProtocolUDP, Port: 5000, Typ: webrtc.ICECandidateTypeHost, Component: 1}
	nc, err := ep.ExportCandidate(good)
	if err != nil {
		t.Fatal(err)
	}
	if nc.Name != ep.node.Address.String() || nc.Port != 5000 || strings.Contains(nc.Name, "127.") {
		t.Fatalf("exported %+v", nc)
	}
	for name, c := range map[string]webrtc.ICECandidate{
		"public host": {Address: "10.0.0.1", Protocol: webrtc.ICEProtocolUDP, Port: 1, Typ: webrtc.ICECandidateTypeHost},
		"srflx":       {Address: "127.77.0.1", Protocol: webrtc.ICEProtocolUDP, Port: 1, Typ: webrtc.ICECandidateTypeSrflx},
		"relay":       {Address: "127.77.0.1", Protocol: webrtc.ICEProtocolUDP, Port: 1, Typ: webrtc.ICECandidateTypeRelay},
		"tcp":         {Address: "127.77.0.1", Protocol: webrtc.ICEProtocolTCP, Port: 1, Typ: webrtc.ICECandidateTypeHost},
		"mdns":        {Address: "abc.local", Protocol: webrtc.ICEProtocolUDP, Port: 1, Typ: webrtc.ICECandidateTypeHost},
		"ipv6":        {Address: "fe80::1", Protocol: webrtc.ICEProtocolUDP, Port: 1, Typ: webrtc.ICECandidateTypeHost},
	} {
		if _, err := ep.ExportCandidate(c); !errors.Is(err, ErrLeak) {
			t.Errorf("%s: err = %v, want ErrLeak", name, err)
		}
	}
}

func TestImportCandidate(t *testing.T) {
	ep := testEndpoint(t)
	peer := lokinettest.RandomAddress()
	other := lokinettest.RandomAddress()
	at := func(ip string) PeerResolver {
		return func(context.Context, lokinet.Address) (netip.Addr, error) { return netip.MustParseAddr(ip), nil }
	}
	good := signalling.Candidate{Foundation: "1", Component: 1, Protocol: "udp", Priority: 100, Name: peer.String(), Port: 5000, Type: "host"}
	init, err := ep.ImportCandidate(context.Background(), good, peer, at("127.77.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(init.Candidate, "127.77.0.2 5000 typ host") {
		t.Fatalf("candidate %q", init.Candidate)
	}
	cases := []struct {
		name    string
		mutate  func(*signalling.Candidate)
		resolve PeerResolver
	}{
		{"third party name", func(c *signalling.Candidate) { c.Name = other.String() }, at("127.77.0.2")},
		{"not an address", func(c *signalling.Candidate) { c.Name = "10.0.0.2" }, at("127.77.0.2")},
		{"resolves outside range", nil, at("10.0.0.2")},
		{"resolves to own IP", nil, at("127.77.0.1")},
		{"srflx", func(c *signalling.Candidate) { c.Type = "srflx" }, at("127.77.0.2")},
		{"tcp", func(c *signalling.Candidate) { c.Protocol = "tcp" }, at("127.77.0.2")},
		{"port zero", func(c *signalling.Candidate) { c.Port = 0 }, at("127.77.0.2")},
	}
	for _, tc := range cases {
		c := good
		if tc.mutate != nil {
			tc.mutate(&c)
		}
		if _, err := ep.ImportCandidate(context.Background(), c, peer, tc.resolve); !errors.Is(err, ErrRefusedCandidate) {
			t.Errorf("%s: err = %v, want ErrRefusedCandidate", tc.name, err)
		}
	}
}

const pionOffer = "v=0\r\no=- 8123 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 9E:8B:0A:4F:94:51:1F:D6:62:29:2E:54:3C:C3:A1:A5:64:91:79:C6:9E:D0:87:BE:2C:0F:AF:53:6C:CB:66:34\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\na=mid:0\r\na=ice-ufrag:abcdEFGH\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=sendrecv\r\n"

func TestCheckSDP(t *testing.T) {
	if err := CheckLocalSDP(pionOffer); err != nil {
		t.Fatalf("local: %v", err)
	}
	if err := CheckRemoteSDP(pionOffer); err != nil {
		t.Fatalf("remote: %v", err)
	}
	leaks := map[string]string{
		"candidate":  pionOffer + "a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n",
		"origin":     strings.Replace(pionOffer, "IN IP4 0.0.0.0\r\ns=", "IN IP4 192.168.1.20\r\ns=", 1),
		"connection": strings.Replace(pionOffer, "c=IN IP4 0.0.0.0", "c=IN IP4 203.0.113.7", 1),
		"ipv6":       strings.Replace(pionOffer, "c=IN IP4 0.0.0.0", "c=IN IP6 2001:db8::1", 1),
		"rtcp":       pionOffer + "a=rtcp:9 IN IP4 172.16.0.1\r\n",
		"lokinet ip": strings.Replace(pionOffer, "c=IN IP4 0.0.0.0", "c=IN IP4 172.16.0.1", 1),
	}
	for name, sdp := range leaks {
		if err := CheckLocalSDP(sdp); !errors.Is(err, ErrLeak) {
			t.Errorf("local %s: err = %v, want ErrLeak", name, err)
		}
		if err := CheckRemoteSDP(sdp); !errors.Is(err, ErrHostileSDP) {
			t.Errorf("remote %s: err = %v, want ErrHostileSDP", name, err)
		}
	}
	hostile := map[string]string{
		"garbage":        "hello",
		"huge":           pionOffer + strings.Repeat("a=x:"+strings.Repeat("y", 100)+"\r\n", 400),
		"video":          strings.Replace(pionOffer, "m=audio", "m=video", 1),
		"two media":      pionOffer + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
		"no ufrag":       strings.Replace(pionOffer, "a=ice-ufrag:abcdEFGH\r\n", "", 1),
		"no password":    strings.Replace(pionOffer, "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", "", 1),
		"no fingerprint": strings.Replace(pionOffer, "a=fingerprint:sha-256 9E:8B:0A:4F:94:51:1F:D6:62:29:2E:54:3C:C3:A1:A5:64:91:79:C6:9E:D0:87:BE:2C:0F:AF:53:6C:CB:66:34\r\n", "", 1),
	}
	for name, sdp := range hostile {
		if err := CheckRemoteSDP(sdp); !errors.Is(err, ErrHostileSDP) {
			t.Errorf("%s: err = %v, want ErrHostileSDP", name, err)
		}
	}
}

// FuzzCheckRemoteSDP: the remote SDP check never panics, and whatever it
// accepts carries no candidate and no non-unspecified address.
func FuzzCheckRemoteSDP(f *testing.F) {
	f.Add(pionOffer)
	f.Add(pionOffer + "a=candidate:1 1 udp 1 10.0.0.1 1 typ host\r\n")
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		if CheckRemoteSDP(sdp) != nil {
			return
		}
		for _, line := range strings.Split(sdp, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "a=candidate") {
				t.Fatalf("accepted an SDP with a candidate line %q", line)
			}
		}
		if err := CheckLocalSDP(sdp); err != nil {
			t.Fatalf("accepted remotely but refused locally: %v", err)
		}
	})
}
