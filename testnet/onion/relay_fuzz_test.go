package onion

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"maps"
	"net/netip"
	"testing"
)

// fixedHop returns the keys a node shares with relay when its ephemeral key
// is derived from seed, and that key's public half: the same in every
// process, so that seed packets sealed in one are valid in another.
func fixedHop(tb testing.TB, relay *ecdh.PublicKey, seed byte) (*hopKeys, []byte) {
	tb.Helper()
	eph, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	k, pub, err := nodeHopWith(eph, relay)
	if err != nil {
		tb.Fatal(err)
	}
	return k, pub
}

// sealedBuild is the build packet a node sends to open path id through the
// relay it shares k with.
func sealedBuild(k *hopKeys, eph []byte, id PathID, rec buildRecord) []byte {
	return buildPacket(id, sealBuild(k, eph, Nonce{0xb0, id[0]}, id, rec))
}

// sealedDown is a down packet carrying msg on path id, one layer sealed
// with k.
func sealedDown(k *hopKeys, id PathID, msg []byte) []byte {
	n := Nonce{0xd0, id[0], byte(len(msg))}
	return layered{typ: pktDown, id: id, nonce: n, body: sealDown([]*hopKeys{k}, n, msg)}.marshal()
}

// FuzzRelayHandle feeds arbitrary packets, from the node, the next hop or a
// stranger, to a relay holding one transit and one terminal path. It checks
// that the relay never panics; that every rejection is ErrMalformed, ErrAuth
// or an unknown path, with ErrMalformed for whatever is too short or of an
// unknown type; that a rejected packet leaves the relay's paths as they
// were; and that it accepts a down, up or intro packet only on a path it
// holds, from that path's neighbour on the link, and a down packet only if
// it authenticates under the path's key.
func FuzzRelayHandle(f *testing.F) {
	key, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		f.Fatal(err)
	}
	// A certain loss keeps every packet the relay sends off the socket.
	r, err := NewRelay(RelayConfig{Key: key, Listen: "127.0.0.1:0", Link: LinkConfig{Loss: 1}})
	if err != nil {
		f.Fatal(err)
	}
	r.conn.Close()

	node := netip.MustParseAddrPort("192.0.2.1:4000")
	next := netip.MustParseAddrPort("192.0.2.2:1090")
	stranger := netip.MustParseAddrPort("192.0.2.3:4000")
	srcs := []netip.AddrPort{node, next, stranger}
	const fromNode, fromNext, fromStranger = 0, 1, 2

	transitKeys, transitEph := fixedHop(f, key.PublicKey(), 2)
	termKeys, termEph := fixedHop(f, key.PublicKey(), 3)
	newKeys, newEph := fixedHop(f, key.PublicKey(), 4)
	transitID, nextID, termID, newID := PathID{1, 1}, PathID{2, 2}, PathID{3, 3}, PathID{4, 4}
	tag := Tag{'t', 'a', 'g'}
	transitBuild := sealedBuild(transitKeys, transitEph, transitID,
		buildRecord{next: next, nextID: nextID, inner: []byte("the next hop's sealed record")})
	termBuild := sealedBuild(termKeys, termEph, termID, buildRecord{terminal: true, tag: tag})
	for _, pkt := range [][]byte{transitBuild, termBuild} {
		if err := r.handle(node, pkt); err != nil {
			f.Fatal(err)
		}
	}
	down0, up0, intro0 := maps.Clone(r.down), maps.Clone(r.up), maps.Clone(r.intro)

	f.Add(transitBuild, byte(fromNode))
	f.Add(sealedBuild(newKeys, newEph, newID, buildRecord{next: stranger, nextID: PathID{5}, inner: []byte("inner")}), byte(fromNode))
	f.Add(sealedBuild(newKeys, newEph, newID, buildRecord{terminal: true, tag: Tag{'n', 'e', 'w'}}), byte(fromNode))
	f.Add(sealedDown(transitKeys, transitID, []byte("for the next hop")), byte(fromNode))
	for _, cmd := range [][]byte{
		seqMessage(cmdPing, 7),
		sendCommand(netip.MustParseAddrPort("192.0.2.9:1090"), Tag{'p', 'e', 'e', 'r'}, []byte("payload")),
		append(append([]byte{cmdDir, 1, 2, 3, 4, 5, 6, 7, 8}, dirLookup), "nobody.loki"...),
		{cmdPing, 1},
		{0x7f},
		{},
	} {
		f.Add(sealedDown(termKeys, termID, cmd), byte(fromNode))
	}
	f.Add(layered{typ: pktUp, id: nextID, nonce: Nonce{0xa0}, body: make([]byte, 40)}.marshal(), byte(fromNext))
	f.Add(introPacket(tag, []byte("end-to-end payload")), byte(fromStranger))
	f.Add([]byte{}, byte(fromNode))
	f.Add([]byte{pktDown}, byte(fromNode))
	f.Add([]byte{pktBuild, 1, 1, 0, 0, 0, 0, 0, 0}, byte(fromNode))
	f.Add(append([]byte{pktDown}, transitID[:]...), byte(fromNode))
	f.Add(bytes.Repeat([]byte{0xff}, 64), byte(fromStranger))

	f.Fuzz(func(t *testing.T, pkt []byte, from byte) {
		src := srcs[int(from)%len(srcs)]
		r.mu.Lock()
		r.down, r.up, r.intro = maps.Clone(down0), maps.Clone(up0), maps.Clone(intro0)
		r.mu.Unlock()

		err := r.handle(src, bytes.Clone(pkt))

		r.mu.Lock()
		defer r.mu.Unlock()
		unchanged := maps.Equal(r.down, down0) && maps.Equal(r.up, up0) && maps.Equal(r.intro, intro0)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuth) && !errors.Is(err, errUnknownPath) {
				t.Fatalf("unclassified error %v", err)
			}
			if !unchanged {
				t.Fatalf("rejected packet (%v) changed the relay's paths", err)
			}
		}
		if len(pkt) < 1+idLen {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%d-byte packet: err = %v, want ErrMalformed", len(pkt), err)
			}
			return
		}
		short := false
		switch pkt[0] {
		case pktBuild:
			short = len(pkt) < 1+idLen+pubLen+NonceSize+Overhead
		case pktDown, pktUp:
			short = len(pkt) < headerLen+Overhead
		case pktIntro:
		default:
			short = true
		}
		if short && !errors.Is(err, ErrMalformed) {
			t.Fatalf("short or unknown packet type %#x, %d bytes: err = %v, want ErrMalformed", pkt[0], len(pkt), err)
		}
		if err != nil {
			return
		}
		var id PathID
		copy(id[:], pkt[1:])
		if pkt[0] == pktBuild {
			if h := r.down[id]; h == nil || h.prev != src || h.prevID != id {
				t.Fatalf("accepted build for %x from %s not registered: %+v", id, src, h)
			}
			return
		}
		if !unchanged {
			t.Fatalf("accepted packet of type %#x changed the relay's paths", pkt[0])
		}
		switch pkt[0] {
		case pktDown:
			h := down0[id]
			if h == nil || h.prev != src {
				t.Fatalf("accepted down packet for %x from %s", id, src)
			}
			p, err := parseLayered(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.keys.down.Open(nil, p.nonce[:], p.body, nil); err != nil {
				t.Fatalf("accepted unauthenticated down packet for %x", id)
			}
		case pktUp:
			if h := up0[id]; h == nil || h.next != src {
				t.Fatalf("accepted up packet for %x from %s", id, src)
			}
		case pktIntro:
			if intro0[Tag(id)] == nil {
				t.Fatalf("accepted intro for unknown tag %x", id)
			}
		}
	})
}
