package onion

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Packet types on the UDP links between nodes and relays.
const (
	pktBuild byte = 0x01 // type | pathID | eph | nonce | sealed build record
	pktDown  byte = 0x02 // type | pathID | nonce | ciphertext, node → terminal
	pktUp    byte = 0x03 // type | pathID | nonce | ciphertext, terminal → node
	pktIntro byte = 0x04 // type | tag | end-to-end payload, terminal → introduction relay
)

// Commands a node sends to its path's terminal relay (innermost down layer).
const (
	cmdPing byte = 0x01 // cmd | seq(8)
	cmdSend byte = 0x02 // cmd | addrport | tag(8) | payload
	cmdDir  byte = 0x03 // cmd | request(8) | op | body: a directory request
)

// Directory operations a terminal relay performs for its node, so that the
// directory never learns which node publishes or looks up what.
const (
	dirLookup  byte = 0x01 // body: address; reply: intro JSON
	dirPublish byte = 0x02 // body: intro JSON; reply: empty
)

// Directory reply statuses.
const (
	dirOK       byte = 0x00
	dirNotFound byte = 0x01
	dirFailed   byte = 0x02 // body: error text
)

// Messages a terminal relay sends up to the node (innermost up layer).
const (
	upBuilt   byte = 0x81
	upPong    byte = 0x82 // | seq(8)
	upDeliver byte = 0x83 // | payload
	upDir     byte = 0x84 // | request(8) | status | body
)

// PathID names one path on one link. Every link of a path has its own,
// chosen at random by the node that builds the path.
type PathID [8]byte

// Tag names a path at its terminal relay for introductions: whoever knows
// (relay, tag) can send packets up that path to its owner.
type Tag [8]byte

const (
	idLen     = 8
	pubLen    = 32
	headerLen = 1 + idLen + NonceSize
)

// appendAddrPort appends ap as a length-prefixed binary value.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	enc, _ := ap.MarshalBinary() // never fails
	b = append(b, byte(len(enc)))
	return append(b, enc...)
}

// readAddrPort decodes what appendAddrPort wrote and returns the rest.
func readAddrPort(b []byte) (netip.AddrPort, []byte, error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: short address", ErrMalformed)
	}
	var ap netip.AddrPort
	if err := ap.UnmarshalBinary(b[1 : 1+int(b[0])]); err != nil {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: address: %w", ErrMalformed, err)
	}
	return ap, b[1+int(b[0]):], nil
}

// layered is a decoded down or up packet.
type layered struct {
	typ   byte
	id    PathID
	nonce Nonce
	body  []byte
}

func (p layered) marshal() []byte {
	b := make([]byte, 0, headerLen+len(p.body))
	b = append(b, p.typ)
	b = append(b, p.id[:]...)
	b = append(b, p.nonce[:]...)
	return append(b, p.body...)
}

func parseLayered(b []byte) (layered, error) {
	if len(b) < headerLen+Overhead {
		return layered{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	var p layered
	p.typ = b[0]
	copy(p.id[:], b[1:])
	copy(p.nonce[:], b[1+idLen:])
	p.body = b[headerLen:]
	return p, nil
}

// buildRecord is what one relay learns when a path is built through it.
type buildRecord struct {
	terminal bool
	next     netip.AddrPort // the next hop, unless terminal
	nextID   PathID         // the path's ID on the link to the next hop
	tag      Tag            // the introduction tag, if terminal
	inner    []byte         // the next hop's sealed record, opaque here
}

func (r buildRecord) marshal() []byte {
	b := make([]byte, 0, 32+len(r.inner))
	if r.terminal {
		b = append(b, 1)
		b = append(b, r.tag[:]...)
		return b
	}
	b = append(b, 0)
	b = appendAddrPort(b, r.next)
	b = append(b, r.nextID[:]...)
	return append(b, r.inner...)
}

func parseBuildRecord(b []byte) (buildRecord, error) {
	var r buildRecord
	if len(b) < 1 {
		return r, fmt.Errorf("%w: empty build record", ErrMalformed)
	}
	if b[0] == 1 {
		if len(b) < 1+idLen {
			return r, fmt.Errorf("%w: short terminal record", ErrMalformed)
		}
		r.terminal = true
		copy(r.tag[:], b[1:])
		return r, nil
	}
	ap, rest, err := readAddrPort(b[1:])
	if err != nil {
		return r, err
	}
	if len(rest) < idLen {
		return r, fmt.Errorf("%w: short build record", ErrMalformed)
	}
	r.next = ap
	copy(r.nextID[:], rest)
	r.inner = rest[idLen:]
	return r, nil
}

// buildPacket is type | pathID | sealed record, where a sealed record is
// eph | nonce | ciphertext.
func buildPacket(id PathID, sealed []byte) []byte {
	b := make([]byte, 0, 1+idLen+len(sealed))
	b = append(b, pktBuild)
	b = append(b, id[:]...)
	return append(b, sealed...)
}

func introPacket(tag Tag, payload []byte) []byte {
	b := make([]byte, 0, 1+idLen+len(payload))
	b = append(b, pktIntro)
	b = append(b, tag[:]...)
	return append(b, payload...)
}

func sendCommand(dst netip.AddrPort, tag Tag, payload []byte) []byte {
	b := make([]byte, 0, 32+len(payload))
	b = append(b, cmdSend)
	b = appendAddrPort(b, dst)
	b = append(b, tag[:]...)
	return append(b, payload...)
}

func seqMessage(typ byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{typ}, seq)
}
