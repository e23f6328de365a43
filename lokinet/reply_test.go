package lokinet

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const arpaName = "2.0.16.172.in-addr.arpa."

func testQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x1234
	return m
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("dns.NewRR(%q): %v", s, err)
	}
	return r
}

func reply(t testing.TB, req *dns.Msg, rcode int, answers ...string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	for _, a := range answers {
		m.Answer = append(m.Answer, rr(t, a))
	}
	return m
}

func TestParseReplies(t *testing.T) {
	self := realAddr + "."
	local := "localhost.loki."
	tests := []struct {
		name    string
		kind    string // "A", "self" or "PTR"
		answers []string
		want    string // the IP or address; "" means an error is wanted
		errPart string
	}{
		{name: "A", kind: "A", answers: []string{self + " 1 IN A 172.16.0.2"}, want: "172.16.0.2"},
		{name: "A upper owner", kind: "A", answers: []string{strings.ToUpper(self) + " 1 IN A 10.0.0.2"}, want: "10.0.0.2"},
		{name: "A 192.168", kind: "A", answers: []string{self + " 1 IN A 192.168.1.7"}, want: "192.168.1.7"},
		{name: "A loopback stand-in", kind: "A", answers: []string{self + " 1 IN A 127.0.0.2"}, want: "127.0.0.2"},
		{name: "A via CNAME", kind: "A", answers: []string{self + " 1 IN CNAME x.loki.", "x.loki. 1 IN A 172.16.0.3"}, want: "172.16.0.3"},
		{name: "A public", kind: "A", answers: []string{self + " 1 IN A 8.8.8.8"}, errPart: "outside any Lokinet range"},
		{name: "A unspecified", kind: "A", answers: []string{self + " 1 IN A 0.0.0.0"}, errPart: "outside"},
		{name: "A multicast", kind: "A", answers: []string{self + " 1 IN A 224.0.0.1"}, errPart: "outside"},
		{name: "A other owner", kind: "A", answers: []string{"other.loki. 1 IN A 172.16.0.2"}, errPart: "no A record"},
		{name: "A none", kind: "A", errPart: "no A record"},
		{name: "A only NS", kind: "A", answers: []string{self + " 1 IN NS localhost.loki."}, errPart: "no A record"},

		{name: "self", kind: "self", answers: []string{local + " 1 IN CNAME " + self, local + " 1 IN A 172.16.0.1"}, want: realAddr + " 172.16.0.1"},
		{name: "self A owned by address", kind: "self", answers: []string{local + " 1 IN CNAME " + self, self + " 1 IN A 172.16.0.1"}, want: realAddr + " 172.16.0.1"},
		{name: "self A first", kind: "self", answers: []string{local + " 1 IN A 127.0.0.1", local + " 1 IN CNAME " + self}, want: realAddr + " 127.0.0.1"},
		{name: "self no CNAME", kind: "self", answers: []string{local + " 1 IN A 172.16.0.1"}, errPart: "no CNAME"},
		{name: "self CNAME to ONS", kind: "self", answers: []string{local + " 1 IN CNAME alice.loki.", local + " 1 IN A 172.16.0.1"}, errPart: "CNAME target"},
		{name: "self no A", kind: "self", answers: []string{local + " 1 IN CNAME " + self}, errPart: "no A record"},
		{name: "self public A", kind: "self", answers: []string{local + " 1 IN CNAME " + self, local + " 1 IN A 1.1.1.1"}, errPart: "outside"},

		{name: "PTR", kind: "PTR", answers: []string{arpaName + " 1 IN PTR " + self}, want: realAddr},
		{name: "PTR bad target", kind: "PTR", answers: []string{arpaName + " 1 IN PTR alice.loki."}, errPart: "PTR target"},
		{name: "PTR bad char", kind: "PTR", answers: []string{arpaName + " 1 IN PTR " + withChar(4, 'l') + "."}, errPart: "character 4"},
		{name: "PTR other owner", kind: "PTR", answers: []string{"3.0.16.172.in-addr.arpa. 1 IN PTR " + self}, errPart: "no PTR record"},
		{name: "PTR none", kind: "PTR", errPart: "no PTR record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var err error
			switch tt.kind {
			case "A":
				m := reply(t, testQuery(self, dns.TypeA), dns.RcodeSuccess, tt.answers...)
				ip, e := parseA(self, m)
				got, err = ip.String(), e
			case "self":
				m := reply(t, testQuery(local, dns.TypeA), dns.RcodeSuccess, tt.answers...)
				id, e := Lokinet.parseSelf(m)
				got, err = id.Address.String()+" "+id.IP.String(), e
			case "PTR":
				m := reply(t, testQuery(arpaName, dns.TypePTR), dns.RcodeSuccess, tt.answers...)
				a, e := Lokinet.parsePTR(arpaName, m)
				got, err = a.String(), e
			}
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tt.errPart)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckReply(t *testing.T) {
	req := testQuery(realAddr+".", dns.TypeA)
	good := reply(t, req, dns.RcodeSuccess)
	tests := []struct {
		name    string
		mutate  func(m *dns.Msg)
		errPart string
	}{
		{name: "good", mutate: func(*dns.Msg) {}},
		{name: "case differs", mutate: func(m *dns.Msg) { m.Question[0].Name = strings.ToUpper(m.Question[0].Name) }},
		{name: "not response", mutate: func(m *dns.Msg) { m.Response = false }, errPart: "not a response"},
		{name: "wrong id", mutate: func(m *dns.Msg) { m.Id++ }, errPart: "reply id 4661, want 4660"},
		{name: "wrong opcode", mutate: func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }, errPart: "opcode"},
		{name: "no question", mutate: func(m *dns.Msg) { m.Question = nil }, errPart: "0 questions"},
		{name: "two questions", mutate: func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }, errPart: "2 questions"},
		{name: "other name", mutate: func(m *dns.Msg) { m.Question[0].Name = "alice.loki." }, errPart: "reply is for A alice.loki."},
		{name: "other type", mutate: func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }, errPart: "reply is for AAAA"},
		{name: "other class", mutate: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, errPart: "reply is for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good.Copy()
			tt.mutate(m)
			raw, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			_, err = checkReply(req, raw)
			if tt.errPart == "" {
				if err != nil {
					t.Fatalf("checkReply: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("checkReply error = %v, want one containing %q", err, tt.errPart)
			}
		})
	}
	if _, err := checkReply(req, []byte{0x12, 0x34, 0x80}); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("short reply: %v", err)
	}
}

func TestRcodeResult(t *testing.T) {
	req := testQuery(realAddr+".", dns.TypeA)
	for _, tc := range []struct {
		rcode int
		want  error
		retry bool
	}{
		{rcode: dns.RcodeSuccess},
		{rcode: dns.RcodeServerFailure, retry: true},
		{rcode: dns.RcodeNameError, want: ErrNotFound},
		{rcode: dns.RcodeRefused, want: ErrBadReply},
		{rcode: dns.RcodeFormatError, want: ErrBadReply},
		{rcode: 13, want: ErrBadReply},
	} {
		_, err := rcodeResult("op", reply(t, req, tc.rcode))
		var rt *retryable
		switch {
		case tc.retry:
			if !errors.As(err, &rt) {
				t.Errorf("rcode %d: %v, want a retry", tc.rcode, err)
			}
		case tc.want == nil:
			if err != nil {
				t.Errorf("rcode %d: %v", tc.rcode, err)
			}
		case !errors.Is(err, tc.want):
			t.Errorf("rcode %d: %v, want %v", tc.rcode, err, tc.want)
		}
	}
}

// FuzzResolverReply feeds arbitrary bytes to the reply parsing the resolver
// runs on every packet from the DNS server: it must never panic, and what it
// accepts must be what Lokinet could send.
func FuzzResolverReply(f *testing.F) {
	self := realAddr + "."
	local := "localhost.loki."
	reqs := []*dns.Msg{testQuery(self, dns.TypeA), testQuery(local, dns.TypeA), testQuery(arpaName, dns.TypePTR)}
	seeds := []*dns.Msg{
		reply(f, reqs[0], dns.RcodeSuccess, self+" 1 IN A 172.16.0.2"),
		reply(f, reqs[0], dns.RcodeServerFailure),
		reply(f, reqs[0], dns.RcodeNameError),
		reply(f, reqs[0], dns.RcodeSuccess, self+" 1 IN CNAME a.loki.", "a.loki. 1 IN CNAME "+self, "a.loki. 1 IN A 10.0.0.1"),
		reply(f, reqs[1], dns.RcodeSuccess, local+" 1 IN CNAME "+self, local+" 1 IN A 172.16.0.1"),
		reply(f, reqs[2], dns.RcodeSuccess, arpaName+" 1 IN PTR "+self),
	}
	for i, m := range seeds {
		raw, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i%3), raw)
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		req := reqs[int(which)%len(reqs)]
		m, err := checkReply(req, raw)
		if err != nil {
			return
		}
		if _, err := rcodeResult("fuzz", m); err != nil {
			return
		}
		if ip, err := parseA(req.Question[0].Name, m); err == nil {
			if _, err := saneIP(net.IP(ip.AsSlice())); err != nil || !ip.Is4() {
				t.Fatalf("parseA accepted %v", ip)
			}
		}
		if id, err := Lokinet.parseSelf(m); err == nil {
			if id.Address.IsZero() || !id.IP.Is4() {
				t.Fatalf("parseSelf accepted %+v", id)
			}
		}
		if a, err := Lokinet.parsePTR(req.Question[0].Name, m); err == nil {
			if _, err := ParseAddress(a.String()); err != nil {
				t.Fatalf("parsePTR accepted %q: %v", a, err)
			}
		}
	})
}

func TestResolverDefaults(t *testing.T) {
	var r Resolver
	if r.addr() != Lokinet.DNSAddr || r.flavour() != &Lokinet {
		t.Errorf("zero Resolver asks %s (%s)", r.addr(), r.flavour().Name)
	}
	if r.timeout() != DefaultTimeout || r.attemptTimeout() != DefaultAttemptTimeout {
		t.Errorf("zero Resolver timeouts %v, %v", r.timeout(), r.attemptTimeout())
	}
	if b, a := r.localBudgets(); b != 3*time.Second || a != time.Second {
		t.Errorf("local budgets %v, %v; want 3s, 1s", b, a)
	}
	r = Resolver{Timeout: time.Second, AttemptTimeout: 100 * time.Millisecond}
	if b, a := r.localBudgets(); b != time.Second || a != 100*time.Millisecond {
		t.Errorf("local budgets %v, %v; want the shorter configured ones", b, a)
	}
	if r.logger() == nil || r.dialer() == nil {
		t.Error("nil logger or dialer")
	}
}
