package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/testnet/onion"
)

// fakeSessions is a network whose state the test sets.
type fakeSessions struct {
	mu      sync.Mutex
	path    bool
	known   map[lokinet.Address]bool // published introductions
	ready   map[lokinet.Address]bool // open sessions
	block   chan struct{}            // if set, Open waits for it
	started chan lokinet.Address     // if set, Open reports its start
}

func (f *fakeSessions) HasPath() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.path
}

func (f *fakeSessions) Ready(a lokinet.Address) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready[a]
}

func (f *fakeSessions) Open(ctx context.Context, a lokinet.Address) error {
	if f.started != nil {
		f.started <- a
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", onion.ErrTimeout, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.known[a] {
		return fmt.Errorf("%w: %s", onion.ErrUnknownAddress, a)
	}
	f.ready[a] = true
	return nil
}

type dnsFixture struct {
	self, peer, stranger, inbound lokinet.Address
	sessions                      *fakeSessions
	srv                           *DNS
}

func newDNSFixture(t *testing.T) *dnsFixture {
	f := &dnsFixture{self: newAddress(t), peer: newAddress(t), stranger: newAddress(t), inbound: newAddress(t)}
	f.sessions = &fakeSessions{path: true, known: map[lokinet.Address]bool{f.peer: true, f.inbound: true}, ready: map[lokinet.Address]bool{f.inbound: true}}
	m := NewAddrMap(DefaultAddress)
	if _, err := m.Map(f.inbound); err != nil { // a caller seen before: 172.16.0.2
		t.Fatal(err)
	}
	f.srv = &DNS{Self: f.self, Map: m, Sessions: f.sessions, LookupTimeout: time.Second}
	return f
}

func ask(srv *DNS, name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	return srv.Answer(context.Background(), q)
}

func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

func TestDNSLikeLokinet(t *testing.T) {
	t.Parallel()
	f := newDNSFixture(t)
	self, peer, inbound := f.self.FQDN(), f.peer.FQDN(), f.inbound.FQDN()
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		noPath  bool
		rcode   int
		answers []string
	}{
		{"whoami", "localhost.loki.", dns.TypeA, false, dns.RcodeSuccess,
			[]string{"localhost.loki. 1 IN CNAME " + self, "localhost.loki. 1 IN A 172.16.0.1"}},
		{"whoami before paths", "localhost.loki.", dns.TypeA, true, dns.RcodeSuccess,
			[]string{"localhost.loki. 1 IN CNAME " + self, "localhost.loki. 1 IN A 172.16.0.1"}},
		{"whoami upper case", "LOCALHOST.LOKI.", dns.TypeA, false, dns.RcodeSuccess,
			[]string{"LOCALHOST.LOKI. 1 IN CNAME " + self, "LOCALHOST.LOKI. 1 IN A 172.16.0.1"}},
		{"own address", self, dns.TypeA, true, dns.RcodeSuccess, []string{self + " 1 IN A 172.16.0.1"}},
		{"remote without paths", peer, dns.TypeA, true, dns.RcodeServerFailure, nil},
		{"remote lookup", peer, dns.TypeA, false, dns.RcodeSuccess, []string{peer + " 1 IN A 172.16.0.3"}},
		{"remote again, immediate", peer, dns.TypeA, false, dns.RcodeSuccess, []string{peer + " 1 IN A 172.16.0.3"}},
		{"session from an inbound caller", inbound, dns.TypeA, false, dns.RcodeSuccess, []string{inbound + " 1 IN A 172.16.0.2"}},
		{"unknown address", f.stranger.FQDN(), dns.TypeA, false, dns.RcodeNameError, nil},
		{"ONS name", "somename.loki.", dns.TypeA, false, dns.RcodeNameError, nil},
		{"bad last character", peer[:51] + "a" + peer[52:], dns.TypeA, false, dns.RcodeNameError, nil},
		{"AAAA remote", peer, dns.TypeAAAA, false, dns.RcodeSuccess, []string{peer + " 1 IN NS localhost.loki."}},
		{"AAAA localhost", "localhost.loki.", dns.TypeAAAA, false, dns.RcodeSuccess, []string{"localhost.loki. 1 IN NS localhost.loki."}},
		{"SRV broken as in 0.9", "_lokicall._tcp." + peer, dns.TypeSRV, false, dns.RcodeNameError, nil},
		{"PTR self", "1.0.16.172.in-addr.arpa.", dns.TypePTR, false, dns.RcodeSuccess, []string{"1.0.16.172.in-addr.arpa. 1 IN PTR " + self}},
		{"PTR caller", "2.0.16.172.in-addr.arpa.", dns.TypePTR, false, dns.RcodeSuccess, []string{"2.0.16.172.in-addr.arpa. 1 IN PTR " + inbound}},
		{"PTR resolved peer", "3.0.16.172.in-addr.arpa.", dns.TypePTR, false, dns.RcodeSuccess, []string{"3.0.16.172.in-addr.arpa. 1 IN PTR " + peer}},
		{"PTR unmapped", "99.0.16.172.in-addr.arpa.", dns.TypePTR, false, dns.RcodeNameError, nil},
		{"PTR outside range", "1.0.0.127.in-addr.arpa.", dns.TypePTR, false, dns.RcodeRefused, nil},
		{"not .loki", "example.com.", dns.TypeA, false, dns.RcodeRefused, nil},
	}
	// Sequential: later rows depend on the mappings earlier ones make.
	for _, tt := range tests {
		f.sessions.mu.Lock()
		f.sessions.path = !tt.noPath
		f.sessions.mu.Unlock()
		m := ask(f.srv, tt.qname, tt.qtype)
		if m == nil {
			t.Errorf("%s: no reply", tt.name)
			continue
		}
		if m.Rcode != tt.rcode {
			t.Errorf("%s: rcode %s, want %s", tt.name, dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
		}
		if got := answers(m); strings.Join(got, "\n") != strings.Join(tt.answers, "\n") {
			t.Errorf("%s: answers\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.answers, "\n"))
		}
		for _, rr := range m.Answer {
			if rr.Header().Ttl != 1 {
				t.Errorf("%s: TTL %d, want 1", tt.name, rr.Header().Ttl)
			}
		}
		if !m.Authoritative {
			t.Errorf("%s: not authoritative", tt.name)
		}
	}
}

// While a lookup is pending, a repeat query for the same name gets no reply
// at all; a query for another name is not held up by it.
func TestDNSRepeatWhilePendingIsSilent(t *testing.T) {
	t.Parallel()
	f := newDNSFixture(t)
	f.sessions.block = make(chan struct{})
	f.sessions.started = make(chan lokinet.Address, 2)
	first := make(chan *dns.Msg)
	go func() { first <- ask(f.srv, f.peer.FQDN(), dns.TypeA) }()
	<-f.sessions.started
	if m := ask(f.srv, f.peer.FQDN(), dns.TypeA); m != nil {
		t.Fatalf("repeat query answered while pending: %v", m)
	}
	if m := ask(f.srv, "localhost.loki.", dns.TypeA); m == nil || len(m.Answer) != 2 {
		t.Fatalf("localhost.loki held up by a pending lookup: %v", m)
	}
	close(f.sessions.block)
	m := <-first
	if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("held query: %v", m)
	}
	// Once answered, the name is no longer pending.
	if m := ask(f.srv, f.peer.FQDN(), dns.TypeA); m == nil || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("query after the lookup: %v", m)
	}
}

func TestDNSLookupTimeoutIsServfail(t *testing.T) {
	t.Parallel()
	f := newDNSFixture(t)
	f.sessions.block = make(chan struct{}) // never released
	f.srv.LookupTimeout = 50 * time.Millisecond
	m := ask(f.srv, f.peer.FQDN(), dns.TypeA)
	if m == nil || m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("timed-out lookup: %v", m)
	}
}

// The handler over a real socket, as a client meets it.
func TestDNSOverUDP(t *testing.T) {
	t.Parallel()
	f := newDNSFixture(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: f.srv, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	<-started
	q := new(dns.Msg)
	q.SetQuestion("localhost.loki.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, ok := r.Answer[1].(*dns.A)
	if !ok || netip.AddrFrom4([4]byte(a.A.To4())) != DefaultAddress.Addr() {
		t.Fatalf("answer %v", r.Answer)
	}
}
