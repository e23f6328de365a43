package node

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

const (
	protoTCP = 6
	protoUDP = 17
)

// DestinationIPv4 returns the destination of an IPv4 packet read from the
// TUN interface.
func DestinationIPv4(pkt []byte) (netip.Addr, error) {
	if _, err := ipv4HeaderLen(pkt); err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom4([4]byte(pkt[16:20])), nil
}

func ipv4HeaderLen(pkt []byte) (int, error) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return 0, ErrNotIPv4
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl {
		return 0, fmt.Errorf("%w: header length %d", ErrNotIPv4, ihl)
	}
	return ihl, nil
}

// RewriteInbound rewrites, in place, an IPv4 packet that arrived from the
// network so that it comes from src (the sender's address in this node's
// view) and goes to dst (this node's own address), as Lokinet does before
// writing it to its TUN interface. It fixes the IPv4 header checksum and
// the TCP or UDP checksum (whose pseudo-header holds both addresses) and
// leaves ports and everything else untouched. A UDP checksum of zero, which
// means none, stays zero. Fragments after the first carry no transport
// header and only get the IP header fixed.
func RewriteInbound(pkt []byte, src, dst netip.Addr) error {
	ihl, err := ipv4HeaderLen(pkt)
	if err != nil {
		return err
	}
	if !src.Is4() || !dst.Is4() {
		return fmt.Errorf("%w: rewrite to %s → %s", ErrNotIPv4, src, dst)
	}
	var old [8]byte
	copy(old[:], pkt[12:20])
	s, d := src.As4(), dst.As4()
	copy(pkt[12:16], s[:])
	copy(pkt[16:20], d[:])

	pkt[10], pkt[11] = 0, 0
	binary.BigEndian.PutUint16(pkt[10:], ^fold(sum(0, pkt[:ihl])))

	if binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
		return nil // not the first fragment: no transport header
	}
	var off int
	switch pkt[9] {
	case protoTCP:
		off = ihl + 16
	case protoUDP:
		off = ihl + 6
	default:
		return nil
	}
	if len(pkt) < off+2 {
		return nil // truncated transport header: nothing to fix
	}
	cs := binary.BigEndian.Uint16(pkt[off:])
	if pkt[9] == protoUDP && cs == 0 {
		return nil
	}
	// RFC 1624: HC' = ~(~HC + ~m + m') over the changed 16-bit words.
	acc := uint32(^cs)
	for i := 0; i < 8; i += 2 {
		acc += uint32(^binary.BigEndian.Uint16(old[i:]))
	}
	acc = sum(acc, pkt[12:20])
	ncs := ^fold(acc)
	if pkt[9] == protoUDP && ncs == 0 {
		ncs = 0xffff
	}
	binary.BigEndian.PutUint16(pkt[off:], ncs)
	return nil
}

// sum adds b as big-endian 16-bit words to acc (one's complement, unfolded).
func sum(acc uint32, b []byte) uint32 {
	for len(b) >= 2 {
		acc += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}
