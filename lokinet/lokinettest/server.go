// Package lokinettest provides an in-process DNS server that answers like
// the DNS server of a Lokinet 0.9 daemon, for tests and demos that must not
// need a live Lokinet.
package lokinettest

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/miekg/dns"
)

// ttl is the TTL Lokinet puts on every record.
const ttl = 1

// Config describes the node the server stands in for.
type Config struct {
	// Self is the node's own address (answer to localhost.loki). Required.
	Self lokinet.Address
	// SelfIP is the node's own IP. Required; a 127.x address stands in for
	// the Lokinet range in loopback tests.
	SelfIP netip.Addr
	// Peers maps host names ("<addr>.loki" or an ONS "name.loki") to the IP
	// under which this node sees them. PTR answers only for peers keyed by
	// an address.
	Peers map[string]netip.Addr
	// ServFailFirst answers SERVFAIL to the first N remote A queries, as a
	// daemon without paths does.
	ServFailFirst int
	// SilentFirst ignores the N remote A queries after those, as a daemon
	// does with repeat queries while a lookup is pending.
	SilentFirst int
	// Delay is the wait before answering a remote A query (path lookup).
	Delay time.Duration
	// TruncateUDP answers every UDP query with an empty truncated reply, so
	// that clients must ask again over TCP.
	TruncateUDP bool
	// Logger receives a debug record per query; nil means discard.
	Logger *slog.Logger
}

// Query is one question the server received.
type Query struct {
	// Name is the question name as received, fully qualified.
	Name string
	// Type is the question type, such as dns.TypeA.
	Type uint16
	// From is the client's address and port.
	From netip.AddrPort
	// At is when the query arrived.
	At time.Time
	// Net is "udp" or "tcp".
	Net string
}

// Server is a running stand-in for Lokinet's DNS server, on UDP and TCP at
// the same address.
type Server struct {
	self lokinet.Address
	tld  string
	cfg  Config
	log  *slog.Logger

	udp, tcp *dns.Server
	addr     string
	done     chan struct{}
	once     sync.Once

	mu sync.Mutex
	// selfIP is the node's own IP; down: the daemon is away (under mu).
	selfIP  netip.Addr
	down    bool
	peers   map[string]netip.Addr
	queries []Query
	remote  int // remote A queries seen, for ServFailFirst and SilentFirst
}

// Start listens on addr (such as "127.0.0.1:0") over UDP and TCP with the
// same port and serves until Close. It returns once both sockets are bound
// and served, so queries sent afterwards are answered.
func Start(addr string, cfg Config) (*Server, error) {
	if cfg.Self.IsZero() {
		return nil, errors.New("lokinettest: Config.Self is zero")
	}
	if !cfg.SelfIP.IsValid() {
		return nil, errors.New("lokinettest: Config.SelfIP is not set")
	}
	s := &Server{
		self:   cfg.Self,
		selfIP: cfg.SelfIP.Unmap(),
		cfg:    cfg,
		log:    cfg.Logger,
		done:   make(chan struct{}),
		peers:  make(map[string]netip.Addr),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	selfName := cfg.Self.String()
	s.tld = selfName[strings.LastIndexByte(selfName, '.')+1:]
	for name, ip := range cfg.Peers {
		s.SetPeer(name, ip)
	}

	pc, ln, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: s.handler("udp"), NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: ln, Handler: s.handler("tcp"), NotifyStartedFunc: notify}
	failed := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
			}
		}()
	}
	for range 2 {
		select {
		case <-started:
		case err := <-failed:
			pc.Close()
			ln.Close()
			return nil, fmt.Errorf("lokinettest: serve on %s: %w", s.addr, err)
		}
	}
	return s, nil
}

// listenBoth binds UDP and TCP on the same address; with port 0 it retries
// until the kernel's UDP port is also free for TCP.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("lokinettest: address %q: %w", addr, err)
	}
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("lokinettest: listen udp %s: %w", addr, err)
		}
		_, got, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, got))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("lokinettest: listen tcp beside udp on %s: %w", addr, lastErr)
}

// Addr returns the address the server listens on, as "ip:port".
func (s *Server) Addr() string { return s.addr }

// Queries returns a copy of every query received so far, in arrival order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// SetPeer maps name ("<addr>.loki" or "name.loki", case and trailing dot
// ignored) to ip in this node's view; an invalid ip removes the mapping.
// It is safe for concurrent use.
func (s *Server) SetPeer(name string, ip netip.Addr) {
	key := canon(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ip.IsValid() {
		delete(s.peers, key)
		return
	}
	s.peers[key] = ip.Unmap()
}

// SetSelfIP changes the node's own IP, as a daemon restarted with another
// range does. It is safe for concurrent use.
func (s *Server) SetSelfIP(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.selfIP = ip.Unmap()
}

// SetDown makes the server refuse every query (REFUSED) while down is
// true, as nothing answers while the daemon restarts. It is safe for
// concurrent use.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *Server) state() (self netip.Addr, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.selfIP, s.down
}

// Close stops the server and waits for its handlers to return.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	})
	return err
}

// RandomAddress returns the address of a fresh random ed25519 key.
func RandomAddress() lokinet.Address {
	// crypto/rand never fails (Go 1.24+), so neither does GenerateKey(nil).
	pub, _, _ := ed25519.GenerateKey(nil)
	return lokinet.AddressFromKey(pub)
}

func canon(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

func (s *Server) handler(network string) dns.Handler {
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.serve(w, req, network)
	})
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg, network string) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		s.write(w, resp)
		return
	}
	q := req.Question[0]
	from, _ := netip.ParseAddrPort(w.RemoteAddr().String())
	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: q.Name, Type: q.Qtype, From: from, At: time.Now(), Net: network})
	s.mu.Unlock()
	s.log.Debug("lokinettest: query", "name", q.Name, "type", dns.TypeToString[q.Qtype], "from", from, "net", network)

	if _, down := s.state(); down {
		resp.Rcode = dns.RcodeRefused
		s.write(w, resp)
		return
	}
	if s.cfg.TruncateUDP && network == "udp" {
		resp.Truncated = true
		s.write(w, resp)
		return
	}
	if !s.answer(resp, q) {
		return // silence
	}
	s.write(w, resp)
}

func (s *Server) write(w dns.ResponseWriter, resp *dns.Msg) {
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("lokinettest: write reply", "err", err)
	}
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

func aRecord(name string, ip netip.Addr) *dns.A {
	return &dns.A{Hdr: hdr(name, dns.TypeA), A: ip.AsSlice()}
}

// answer fills resp for q the way Lokinet 0.9 does; false means stay silent.
func (s *Server) answer(resp *dns.Msg, q dns.Question) bool {
	name := canon(q.Name)
	if q.Qtype == dns.TypePTR && (strings.HasSuffix(name, ".in-addr.arpa") || strings.HasSuffix(name, ".ip6.arpa")) {
		s.answerPTR(resp, q, name)
		return true
	}
	if !strings.HasSuffix(name, "."+s.tld) {
		resp.Rcode = dns.RcodeRefused
		return true
	}
	local := "localhost." + s.tld
	selfIP, _ := s.state()
	switch q.Qtype {
	case dns.TypeAAAA:
		// Lokinet 0.9 has no IPv6 mappings: NOERROR and one NS record.
		resp.Answer = append(resp.Answer, &dns.NS{Hdr: hdr(q.Name, dns.TypeNS), Ns: local + "."})
		return true
	case dns.TypeSRV:
		// Remote SRV lookups are broken in 0.9.x: always NXDOMAIN.
		resp.Rcode = dns.RcodeNameError
		return true
	case dns.TypeA:
	default:
		return true // NOERROR, no records
	}
	if name == local {
		resp.Answer = append(resp.Answer,
			&dns.CNAME{Hdr: hdr(q.Name, dns.TypeCNAME), Target: s.self.FQDN()},
			aRecord(q.Name, selfIP))
		return true
	}
	t, err := lokinet.ParseTarget(name)
	if err != nil || t.Port != 0 {
		resp.Rcode = dns.RcodeNameError
		return true
	}
	if t.Address == s.self {
		resp.Answer = append(resp.Answer, aRecord(q.Name, selfIP))
		return true
	}

	s.mu.Lock()
	s.remote++
	n := s.remote
	s.mu.Unlock()
	switch {
	case n <= s.cfg.ServFailFirst:
		resp.Rcode = dns.RcodeServerFailure
		return true
	case n <= s.cfg.ServFailFirst+s.cfg.SilentFirst:
		return false
	}
	if s.cfg.Delay > 0 {
		timer := time.NewTimer(s.cfg.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-s.done:
			return false
		}
	}
	key := name
	if !t.Address.IsZero() {
		key = t.Address.String() // subdomains of an address reach the address
	}
	s.mu.Lock()
	ip, ok := s.peers[key]
	s.mu.Unlock()
	if !ok {
		resp.Rcode = dns.RcodeNameError
		return true
	}
	resp.Answer = append(resp.Answer, aRecord(q.Name, ip))
	return true
}

func (s *Server) answerPTR(resp *dns.Msg, q dns.Question, name string) {
	ip, ok := parseReverse(name)
	if !ok {
		resp.Rcode = dns.RcodeNameError
		return
	}
	target := ""
	if self, _ := s.state(); ip == self {
		target = s.self.FQDN()
	} else {
		s.mu.Lock()
		for host, pip := range s.peers {
			if pip != ip {
				continue
			}
			if a, err := lokinet.ParseAddress(host); err == nil {
				target = a.FQDN()
				break
			}
		}
		s.mu.Unlock()
	}
	if target == "" {
		resp.Rcode = dns.RcodeNameError
		return
	}
	resp.Answer = append(resp.Answer, &dns.PTR{Hdr: hdr(q.Name, dns.TypePTR), Ptr: target})
}

// parseReverse turns "4.3.2.1.in-addr.arpa" or a nibble-form ip6.arpa name
// (lower case, no trailing dot) back into an IP.
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 16, 4)
			if err != nil || len(l) != 1 {
				return netip.Addr{}, false
			}
			pos := 31 - i
			b[pos/2] |= byte(n) << (4 * (1 - pos%2))
		}
		return netip.AddrFrom16(b).Unmap(), true
	}
	return netip.Addr{}, false
}
