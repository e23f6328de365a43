package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lokicall/lokicall/lokinet"
)

// fixedAddress is the address of the key derived from seed: the same in
// every process, so that seed queries name the same nodes in each.
func fixedAddress(seed byte) lokinet.Address {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return lokinet.AddressFromKey(key.Public().(ed25519.PublicKey))
}

// FuzzDNSAnswer feeds arbitrary DNS messages to a fresh server, with or
// without a path, and checks that it always replies (nothing is pending),
// that the reply packs and answers the query's ID and opcode with the
// query's name as owner, that an error carries no answer, that every A
// record lies inside the node's range and that no answer is AAAA, an AAAA
// query getting only the NS record.
func FuzzDNSAnswer(f *testing.F) {
	self, peer, stranger, inbound := fixedAddress(1), fixedAddress(2), fixedAddress(3), fixedAddress(4)
	query := func(name string, qtype uint16) []byte {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, name := range []string{"localhost.loki.", self.FQDN(), peer.FQDN(), stranger.FQDN(), "somename.loki."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypePTR, dns.TypeCNAME} {
			f.Add(query(name, qtype), false)
		}
	}
	f.Add(query(peer.FQDN(), dns.TypeA), true)
	f.Add(query(inbound.FQDN(), dns.TypeA), false)
	f.Add(query("LOCALHOST.LOKI.", dns.TypeA), true)
	f.Add(query("_lokicall._tcp."+peer.FQDN(), dns.TypeSRV), false)
	for _, name := range []string{"1.0.16.172.in-addr.arpa.", "2.0.16.172.in-addr.arpa.", "99.0.16.172.in-addr.arpa.", "1.0.0.127.in-addr.arpa."} {
		f.Add(query(name, dns.TypePTR), false)
	}
	f.Add(query("example.com.", dns.TypeA), false)
	f.Add(query("example.com.", dns.TypeAAAA), false)
	two := new(dns.Msg)
	two.SetQuestion("localhost.loki.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	b, err := two.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, false)
	f.Add([]byte{}, false)

	f.Fuzz(func(t *testing.T, data []byte, noPath bool) {
		var q dns.Msg
		if q.Unpack(data) != nil {
			return
		}
		// A fresh server each time: nothing pending, peer and inbound
		// published, inbound already mapped with a session, stranger
		// unknown. Open never blocks, so neither does Answer.
		sessions := &fakeSessions{path: !noPath, known: map[lokinet.Address]bool{peer: true, inbound: true}, ready: map[lokinet.Address]bool{inbound: true}}
		am := NewAddrMap(DefaultAddress)
		if _, err := am.Map(inbound); err != nil {
			t.Fatal(err)
		}
		srv := &DNS{Self: self, Map: am, Sessions: sessions, LookupTimeout: 5 * time.Millisecond}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
		defer cancel()

		m := srv.Answer(ctx, &q)
		if m == nil {
			t.Fatalf("no reply to %v", &q)
		}
		if _, err := m.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v\n%v", err, m)
		}
		if m.Id != q.Id || !m.Response || m.Opcode != q.Opcode || !m.Authoritative {
			t.Fatalf("reply header %+v to query header %+v", m.MsgHdr, q.MsgHdr)
		}
		if m.Rcode != dns.RcodeSuccess && len(m.Answer) > 0 {
			t.Fatalf("rcode %s with answers %v", dns.RcodeToString[m.Rcode], m.Answer)
		}
		for _, rr := range m.Answer {
			if h := rr.Header(); h.Name != q.Question[0].Name || h.Ttl != ttl {
				t.Fatalf("answer %v to question %v", rr, q.Question[0])
			}
			switch rr := rr.(type) {
			case *dns.A:
				ip, ok := netip.AddrFromSlice(rr.A)
				if !ok || !am.Prefix().Contains(ip.Unmap()) {
					t.Fatalf("A record %v outside %s", rr, am.Prefix())
				}
			case *dns.AAAA:
				t.Fatalf("AAAA record %v", rr)
			}
		}
		if len(m.Answer) > 0 && q.Question[0].Qtype == dns.TypeAAAA {
			if ns, ok := m.Answer[0].(*dns.NS); len(m.Answer) != 1 || !ok || ns.Ns != localhost {
				t.Fatalf("AAAA query answered with %v", m.Answer)
			}
		}
	})
}
