package node

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/testnet/onion"
)

// DefaultLookupTimeout is how long a remote lookup stays pending, the time
// during which Lokinet 0.9 does not answer repeat queries (DESIGN.md §3).
const DefaultLookupTimeout = 5 * time.Second

// ttl is the TTL of every answer, as Lokinet's.
const ttl = 1

// Sessions is what the DNS server needs of the network: whether the node has
// a path, whether a session with a node exists, and a way to open one.
// *onion.Endpoint implements it.
type Sessions interface {
	HasPath() bool
	Ready(addr lokinet.Address) bool
	// Open returns once a session exists, or an error wrapping
	// onion.ErrUnknownAddress for an address nobody published.
	Open(ctx context.Context, addr lokinet.Address) error
}

// DNS answers queries the way Lokinet 0.9's DNS server does (DESIGN.md §3):
//   - localhost.loki A: a CNAME to the node's own address and an A record
//     of its own IP, owned by localhost.loki, answered with or without paths;
//   - <own address>.loki A: the node's own IP;
//   - <remote>.loki A: the remote's IP in this node's view once a session
//     exists (immediately); SERVFAIL while the node has no path; otherwise
//     the query is held until the session is open or the lookup fails
//     (NXDOMAIN for an address nobody published, SERVFAIL on timeout), and
//     a repeat query for the same name meanwhile gets no reply at all;
//   - AAAA for any .loki name: NOERROR with one NS record (localhost.loki.)
//     and no address;
//   - SRV on .loki: NXDOMAIN, as Lokinet 0.9 answers even published records;
//   - PTR inside the node's range: the node's own or a mapped peer's
//     address, NXDOMAIN for an unmapped one;
//   - anything else: REFUSED (Lokinet would forward it upstream).
//
// Every answer has a TTL of 1 s.
type DNS struct {
	// Self is the node's own address.
	Self lokinet.Address
	// Map is the node's address mapping.
	Map *AddrMap
	// Sessions opens sessions with remote nodes.
	Sessions Sessions
	// LookupTimeout bounds one held query; DefaultLookupTimeout if zero.
	LookupTimeout time.Duration
	// Logger receives the server's log; none if nil.
	Logger *slog.Logger

	mu      sync.Mutex
	pending map[string]struct{}
}

// ServeDNS implements dns.Handler.
func (d *DNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if m := d.Answer(context.Background(), r); m != nil {
		_ = w.WriteMsg(m) // the client is gone; nothing to do
	}
}

const localhost = "localhost.loki."

// Answer returns the reply to r, or nil when Lokinet would not reply at all.
// It may block for up to LookupTimeout.
func (d *DNS) Answer(ctx context.Context, r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	q := r.Question[0]
	name := strings.ToLower(dns.Fqdn(q.Name))
	switch {
	case q.Qtype == dns.TypePTR:
		return d.ptr(m, q, name)
	case !strings.HasSuffix(name, ".loki."):
		m.Rcode = dns.RcodeRefused
		return m
	case q.Qtype == dns.TypeAAAA:
		m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(q.Name, dns.TypeNS), Ns: localhost})
		return m
	case q.Qtype == dns.TypeSRV:
		m.Rcode = dns.RcodeNameError
		return m
	case name == localhost:
		switch q.Qtype {
		case dns.TypeA:
			m.Answer = append(m.Answer,
				&dns.CNAME{Hdr: hdr(q.Name, dns.TypeCNAME), Target: d.Self.FQDN()},
				&dns.A{Hdr: hdr(q.Name, dns.TypeA), A: d.Map.Self().AsSlice()})
		case dns.TypeCNAME:
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(q.Name, dns.TypeCNAME), Target: d.Self.FQDN()})
		}
		return m
	}
	addr, err := lokinet.ParseAddress(name)
	if err != nil {
		m.Rcode = dns.RcodeNameError // an ONS name, or not a name at all
		return m
	}
	if q.Qtype != dns.TypeA {
		return m
	}
	if addr == d.Self {
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: d.Map.Self().AsSlice()})
		return m
	}
	return d.remote(ctx, m, q, name, addr)
}

func (d *DNS) remote(ctx context.Context, m *dns.Msg, q dns.Question, name string, addr lokinet.Address) *dns.Msg {
	if ip, ok := d.Map.Lookup(addr); ok && d.Sessions.Ready(addr) {
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: ip.AsSlice()})
		return m
	}
	if !d.Sessions.HasPath() {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	d.mu.Lock()
	if d.pending == nil {
		d.pending = make(map[string]struct{})
	}
	if _, busy := d.pending[name]; busy {
		d.mu.Unlock()
		return nil
	}
	d.pending[name] = struct{}{}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.pending, name)
		d.mu.Unlock()
	}()

	timeout := d.LookupTimeout
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := d.Sessions.Open(ctx, addr)
	var ip netip.Addr
	if err == nil {
		ip, err = d.Map.Map(addr)
	}
	d.logger().Info("lookup", "name", name, "ms", time.Since(start).Milliseconds(), "ip", ip, "err", err)
	switch {
	case errors.Is(err, onion.ErrUnknownAddress):
		m.Rcode = dns.RcodeNameError
	case err != nil:
		m.Rcode = dns.RcodeServerFailure
	default:
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: ip.AsSlice()})
	}
	return m
}

func (d *DNS) ptr(m *dns.Msg, q dns.Question, name string) *dns.Msg {
	ip, ok := parseReverse(name)
	if !ok || !d.Map.Prefix().Contains(ip) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	var target string
	if ip == d.Map.Self() {
		target = d.Self.FQDN()
	} else if a, ok := d.Map.Reverse(ip); ok {
		target = a.FQDN()
	} else {
		m.Rcode = dns.RcodeNameError
		return m
	}
	m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr(q.Name, dns.TypePTR), Ptr: target})
	return m
}

// parseReverse turns "4.3.2.1.in-addr.arpa." into 1.2.3.4.
func parseReverse(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	for i, j := 0, 3; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	ip, err := netip.ParseAddr(strings.Join(parts, "."))
	return ip, err == nil && ip.Is4()
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

func (d *DNS) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}
