package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// ipv4 builds a packet with correct checksums; opts are IP options (a
// multiple of 4 bytes), l4 the transport header and payload whose checksum
// field (at csOff, or -1 for none) is filled in.
func ipv4(proto byte, src, dst string, opts []byte, l4 []byte, csOff int, frag uint16) []byte {
	ihl := 20 + len(opts)
	pkt := make([]byte, ihl+len(l4))
	pkt[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(pkt[6:], frag)
	pkt[8] = 64
	pkt[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(pkt[12:], s[:])
	copy(pkt[16:], d[:])
	copy(pkt[20:], opts)
	copy(pkt[ihl:], l4)
	binary.BigEndian.PutUint16(pkt[10:], ^fold(sum(0, pkt[:ihl])))
	if csOff >= 0 {
		binary.BigEndian.PutUint16(pkt[ihl+csOff:], transportChecksum(pkt))
	}
	return pkt
}

// transportChecksum computes the TCP/UDP checksum from scratch, with the
// packet's checksum field taken as zero.
func transportChecksum(pkt []byte) uint16 {
	ihl := int(pkt[0]&0x0f) * 4
	l4 := bytes.Clone(pkt[ihl:])
	off := 16
	if pkt[9] == protoUDP {
		off = 6
	}
	l4[off], l4[off+1] = 0, 0
	acc := sum(0, pkt[12:20])
	acc += uint32(pkt[9]) + uint32(len(l4))
	acc = sum(acc, l4)
	cs := ^fold(acc)
	if pkt[9] == protoUDP && cs == 0 {
		cs = 0xffff
	}
	return cs
}

func udp(sport, dport uint16, payload string) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], payload)
	return b
}

func tcp(sport, dport uint16, payload string) []byte {
	b := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 0x01020304)
	b[12] = 5 << 4
	b[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[20:], payload)
	return b
}

func TestRewriteInbound(t *testing.T) {
	t.Parallel()
	// As sent by the remote node: from its own 172.16.0.1 to its view of
	// us, 172.16.0.9; we see it at 172.16.0.2.
	const from, to = "172.16.0.1", "172.16.0.9"
	src, dst := netip.MustParseAddr("172.16.0.2"), netip.MustParseAddr("172.16.0.1")
	icmp := []byte{8, 0, 0xf7, 0xfd, 0, 1, 0, 1} // echo request, checksum over itself
	tests := []struct {
		name   string
		pkt    []byte
		l4Sum  bool // the transport checksum must verify afterwards
		l4Same bool // the transport bytes must not change at all
	}{
		{"udp", ipv4(protoUDP, from, to, nil, udp(50000, 7787, "hello"), 6, 0), true, false},
		{"udp odd length", ipv4(protoUDP, from, to, nil, udp(1, 2, "odd"), 6, 0), true, false},
		{"udp no checksum", ipv4(protoUDP, from, to, nil, udp(5000, 9000, "x"), -1, 0), false, true},
		{"tcp syn", ipv4(protoTCP, from, to, nil, tcp(40000, 7787, ""), 16, 0), true, false},
		{"tcp data", ipv4(protoTCP, from, to, nil, tcp(40000, 7787, "offer sdp"), 16, 0), true, false},
		{"ip options", ipv4(protoUDP, from, to, []byte{1, 1, 1, 0}, udp(1000, 2000, "opt"), 6, 0), true, false},
		{"icmp", ipv4(1, from, to, nil, icmp, -1, 0), false, true},
		{"later fragment", ipv4(protoUDP, from, to, nil, []byte("middle of a datagram"), -1, 185), false, true},
		{"first fragment", ipv4(protoUDP, from, to, nil, udp(1, 2, "first part"), 6, 0x2000), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := bytes.Clone(tt.pkt)
			if err := RewriteInbound(pkt, src, dst); err != nil {
				t.Fatal(err)
			}
			if got := netip.AddrFrom4([4]byte(pkt[12:16])); got != src {
				t.Errorf("source %s, want %s", got, src)
			}
			if got := netip.AddrFrom4([4]byte(pkt[16:20])); got != dst {
				t.Errorf("destination %s, want %s", got, dst)
			}
			ihl := int(pkt[0]&0x0f) * 4
			if s := fold(sum(0, pkt[:ihl])); s != 0xffff {
				t.Errorf("IP header checksum does not verify (sum %#x)", s)
			}
			if !bytes.Equal(pkt[:10], tt.pkt[:10]) {
				t.Errorf("IP header before the checksum changed")
			}
			if tt.l4Sum {
				off := ihl + 16
				if pkt[9] == protoUDP {
					off = ihl + 6
				}
				if got, want := binary.BigEndian.Uint16(pkt[off:]), transportChecksum(pkt); got != want {
					t.Errorf("transport checksum %#x, want %#x", got, want)
				}
			}
			if tt.l4Same && !bytes.Equal(pkt[ihl:], tt.pkt[ihl:]) {
				t.Errorf("transport bytes changed")
			}
			if pkt[9] == protoUDP || pkt[9] == protoTCP {
				if !bytes.Equal(pkt[ihl:ihl+4], tt.pkt[ihl:ihl+4]) {
					t.Errorf("ports changed: % x → % x", tt.pkt[ihl:ihl+4], pkt[ihl:ihl+4])
				}
			}
		})
	}
}

func TestRewriteInboundRejects(t *testing.T) {
	t.Parallel()
	src, dst := netip.MustParseAddr("172.16.0.2"), netip.MustParseAddr("172.16.0.1")
	v6 := make([]byte, 40)
	v6[0] = 0x60
	badIHL := ipv4(protoUDP, "1.2.3.4", "5.6.7.8", nil, udp(1, 2, ""), 6, 0)
	badIHL[0] = 0x4f
	for name, pkt := range map[string][]byte{"empty": nil, "ipv6": v6, "short": {0x45, 0}, "ihl past end": badIHL} {
		if err := RewriteInbound(pkt, src, dst); !errors.Is(err, ErrNotIPv4) {
			t.Errorf("%s: err = %v, want ErrNotIPv4", name, err)
		}
	}
	ok := ipv4(protoUDP, "1.2.3.4", "5.6.7.8", nil, udp(1, 2, ""), 6, 0)
	if err := RewriteInbound(ok, netip.MustParseAddr("::1"), dst); !errors.Is(err, ErrNotIPv4) {
		t.Errorf("IPv6 source: err = %v", err)
	}
	// A truncated transport header is left alone, not read past its end.
	trunc := ipv4(protoTCP, "1.2.3.4", "5.6.7.8", nil, []byte{1, 2, 3}, -1, 0)
	if err := RewriteInbound(trunc, src, dst); err != nil {
		t.Errorf("truncated TCP: %v", err)
	}
}

func TestDestinationIPv4(t *testing.T) {
	t.Parallel()
	pkt := ipv4(protoUDP, "172.16.0.1", "172.16.0.7", nil, udp(1, 2, "x"), 6, 0)
	if got, err := DestinationIPv4(pkt); err != nil || got != netip.MustParseAddr("172.16.0.7") {
		t.Fatalf("DestinationIPv4 = %v, %v", got, err)
	}
}

func FuzzRewriteInbound(f *testing.F) {
	f.Add(ipv4(protoUDP, "172.16.0.1", "172.16.0.9", nil, udp(1, 2, "x"), 6, 0))
	f.Add(ipv4(protoTCP, "172.16.0.1", "172.16.0.9", nil, tcp(1, 2, "x"), 16, 0))
	src, dst := netip.MustParseAddr("172.16.0.2"), netip.MustParseAddr("172.16.0.1")
	f.Fuzz(func(t *testing.T, pkt []byte) {
		before := bytes.Clone(pkt)
		if err := RewriteInbound(pkt, src, dst); err != nil {
			return
		}
		if len(pkt) != len(before) {
			t.Fatal("length changed")
		}
	})
}
