package lokinettest

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/miekg/dns"
)

const realAddr = "55fxd8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.loki"

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func ask(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, dns.TypeToString[qtype], name, err)
	}
	return r
}

// answers renders the answer section without TTL-independent noise, one
// record per string, with the TTL kept so that TTL 1 is checked too.
func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out
}

func TestServerAnswersLikeLokinet(t *testing.T) {
	self, err := lokinet.ParseAddress(realAddr)
	if err != nil {
		t.Fatal(err)
	}
	peer := RandomAddress()
	onsOnly := netip.MustParseAddr("172.16.0.9")
	s := startServer(t, Config{
		Self:   self,
		SelfIP: netip.MustParseAddr("172.16.0.1"),
		Peers: map[string]netip.Addr{
			peer.String(): netip.MustParseAddr("172.16.0.2"),
			"Alice.loki.": netip.MustParseAddr("172.16.0.2"),
			"bob.loki":    onsOnly,
		},
	})
	unknown := RandomAddress()
	tests := []struct {
		qname  string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"localhost.loki.", dns.TypeA, dns.RcodeSuccess, []string{
			"localhost.loki. 1 IN CNAME " + realAddr + ".",
			"localhost.loki. 1 IN A 172.16.0.1",
		}},
		{"LOCALHOST.loki.", dns.TypeA, dns.RcodeSuccess, []string{
			"LOCALHOST.loki. 1 IN CNAME " + realAddr + ".",
			"LOCALHOST.loki. 1 IN A 172.16.0.1",
		}},
		{realAddr + ".", dns.TypeA, dns.RcodeSuccess, []string{realAddr + ". 1 IN A 172.16.0.1"}},
		{peer.FQDN(), dns.TypeA, dns.RcodeSuccess, []string{peer.FQDN() + " 1 IN A 172.16.0.2"}},
		{"www." + peer.FQDN(), dns.TypeA, dns.RcodeSuccess, []string{"www." + peer.FQDN() + " 1 IN A 172.16.0.2"}},
		{"alice.loki.", dns.TypeA, dns.RcodeSuccess, []string{"alice.loki. 1 IN A 172.16.0.2"}},
		{"bob.loki.", dns.TypeA, dns.RcodeSuccess, []string{"bob.loki. 1 IN A 172.16.0.9"}},
		{unknown.FQDN(), dns.TypeA, dns.RcodeNameError, nil},
		{"carol.loki.", dns.TypeA, dns.RcodeNameError, nil},
		{"bad_name.loki.", dns.TypeA, dns.RcodeNameError, nil},
		{peer.FQDN(), dns.TypeAAAA, dns.RcodeSuccess, []string{peer.FQDN() + " 1 IN NS localhost.loki."}},
		{"localhost.loki.", dns.TypeAAAA, dns.RcodeSuccess, []string{"localhost.loki. 1 IN NS localhost.loki."}},
		{unknown.FQDN(), dns.TypeAAAA, dns.RcodeSuccess, []string{unknown.FQDN() + " 1 IN NS localhost.loki."}},
		{"_lokicall._tcp." + peer.FQDN(), dns.TypeSRV, dns.RcodeNameError, nil},
		{"1.0.16.172.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"1.0.16.172.in-addr.arpa. 1 IN PTR " + realAddr + "."}},
		{"2.0.16.172.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"2.0.16.172.in-addr.arpa. 1 IN PTR " + peer.FQDN()}},
		{"9.0.16.172.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, nil},
		{"3.0.16.172.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, nil},
		{"example.com.", dns.TypeA, dns.RcodeRefused, nil},
		{"loki.", dns.TypeA, dns.RcodeRefused, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+dns.TypeToString[tt.qtype]+"/"+tt.qname, func(t *testing.T) {
				r := ask(t, s.Addr(), network, tt.qname, tt.qtype)
				if r.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				if got := answers(r); !slices.Equal(got, tt.answer) {
					t.Errorf("answer\n got %q\nwant %q", got, tt.answer)
				}
				if len(r.Question) != 1 || r.Question[0].Name != tt.qname {
					t.Errorf("question %v, want %s", r.Question, tt.qname)
				}
			})
		}
	}
	qs := s.Queries()
	if len(qs) != 2*len(tests) {
		t.Fatalf("recorded %d queries, want %d", len(qs), 2*len(tests))
	}
	if q := qs[0]; q.Name != "localhost.loki." || q.Type != dns.TypeA || q.Net != "udp" ||
		q.From.Addr() != netip.MustParseAddr("127.0.0.1") || q.At.IsZero() {
		t.Errorf("first query recorded as %+v", q)
	}
}

func TestServerServFailThenSilentThenAnswer(t *testing.T) {
	peer := RandomAddress()
	s := startServer(t, Config{
		Self:          RandomAddress(),
		SelfIP:        netip.MustParseAddr("127.0.0.1"),
		Peers:         map[string]netip.Addr{peer.String(): netip.MustParseAddr("127.0.0.2")},
		ServFailFirst: 2,
		SilentFirst:   1,
	})
	// Local questions do not count as remote.
	if r := ask(t, s.Addr(), "udp", "localhost.loki.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("localhost: %s", dns.RcodeToString[r.Rcode])
	}
	for i := range 2 {
		if r := ask(t, s.Addr(), "udp", peer.FQDN(), dns.TypeA); r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("query %d: %s, want SERVFAIL", i+1, dns.RcodeToString[r.Rcode])
		}
	}
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg).SetQuestion(peer.FQDN(), dns.TypeA)
	if r, _, err := c.Exchange(m, s.Addr()); err == nil {
		t.Fatalf("query 3 answered %v, want silence", r)
	}
	if r := ask(t, s.Addr(), "udp", peer.FQDN(), dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("query 4: %v", r)
	}
}

func TestServerSetPeerConcurrent(t *testing.T) {
	s := startServer(t, Config{Self: RandomAddress(), SelfIP: netip.MustParseAddr("127.0.0.1")})
	peer := RandomAddress()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			s.SetPeer(peer.String(), netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}))
			c := &dns.Client{Timeout: 2 * time.Second}
			if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(peer.FQDN(), dns.TypeA), s.Addr()); err != nil {
				t.Errorf("query %d: %v", i, err)
			}
			_ = s.Queries()
		})
	}
	wg.Wait()
	s.SetPeer(peer.FQDN(), netip.MustParseAddr("127.0.0.50"))
	if r := ask(t, s.Addr(), "udp", peer.FQDN(), dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.50" {
		t.Fatalf("after SetPeer: %v", r)
	}
	s.SetPeer(peer.String(), netip.Addr{})
	if r := ask(t, s.Addr(), "udp", peer.FQDN(), dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after removal: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestServerTruncateUDP(t *testing.T) {
	s := startServer(t, Config{Self: RandomAddress(), SelfIP: netip.MustParseAddr("127.0.0.1"), TruncateUDP: true})
	c := &dns.Client{Timeout: 2 * time.Second}
	m := new(dns.Msg).SetQuestion("localhost.loki.", dns.TypeA)
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("UDP reply not truncated: %v", r)
	}
	if r := ask(t, s.Addr(), "tcp", "localhost.loki.", dns.TypeA); len(r.Answer) != 2 {
		t.Fatalf("TCP reply: %v", r)
	}
}

func TestServerDelayAndCloseDuringDelay(t *testing.T) {
	peer := RandomAddress()
	s, err := Start("127.0.0.1:0", Config{
		Self:   RandomAddress(),
		SelfIP: netip.MustParseAddr("127.0.0.1"),
		Peers:  map[string]netip.Addr{peer.String(): netip.MustParseAddr("127.0.0.2")},
		Delay:  time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &dns.Client{Timeout: 100 * time.Millisecond}
	m := new(dns.Msg).SetQuestion(peer.FQDN(), dns.TypeA)
	if _, _, err := c.Exchange(m, s.Addr()); err == nil {
		t.Fatal("answered before the delay")
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the delayed handler")
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start("127.0.0.1:0", Config{SelfIP: netip.MustParseAddr("127.0.0.1")}); err == nil {
		t.Error("Start without Self succeeded")
	}
	if _, err := Start("127.0.0.1:0", Config{Self: RandomAddress()}); err == nil {
		t.Error("Start without SelfIP succeeded")
	}
	if _, err := Start("no-port", Config{Self: RandomAddress(), SelfIP: netip.MustParseAddr("127.0.0.1")}); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

func TestRandomAddress(t *testing.T) {
	a, b := RandomAddress(), RandomAddress()
	if a == b || a.IsZero() {
		t.Fatalf("RandomAddress gave %v and %v", a, b)
	}
	if p, err := lokinet.ParseAddress(a.String()); err != nil || p != a {
		t.Fatalf("RandomAddress %q does not parse: %v", a, err)
	}
}

func TestParseReverse(t *testing.T) {
	for _, tc := range []struct{ ip string }{{"172.16.0.7"}, {"127.0.0.1"}, {"fd2e:7365:7368::1"}} {
		ip := netip.MustParseAddr(tc.ip)
		arpa, err := dns.ReverseAddr(tc.ip)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseReverse(strings.TrimSuffix(arpa, "."))
		if !ok || got != ip {
			t.Errorf("parseReverse(%q) = %v, %v; want %v", arpa, got, ok, ip)
		}
	}
	for _, bad := range []string{"1.2.3.in-addr.arpa", "256.0.0.1.in-addr.arpa", "x.0.0.1.in-addr.arpa", "1.ip6.arpa", "example.com"} {
		if _, ok := parseReverse(bad); ok {
			t.Errorf("parseReverse(%q) accepted", bad)
		}
	}
}
