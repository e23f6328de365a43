package lokinet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Defaults of a Resolver whose fields are zero.
const (
	// DefaultTimeout is the whole budget of one lookup of a remote name:
	// a first path lookup on the live network can take tens of seconds.
	DefaultTimeout = 45 * time.Second
	// DefaultAttemptTimeout is how long one attempt waits for a reply.
	DefaultAttemptTimeout = 5 * time.Second
)

const (
	// localBudget and localAttemptTimeout bound questions that a live daemon
	// answers at once (localhost.loki, PTR): a few attempts over about 3 s.
	localBudget         = 3 * time.Second
	localAttemptTimeout = time.Second
	// backoffMin and backoffMax bound the wait between attempts.
	backoffMin = 250 * time.Millisecond
	backoffMax = 2 * time.Second
	// minWindow is the least time worth giving one more attempt.
	minWindow = 50 * time.Millisecond
	// maxCNAMEs bounds how many CNAME hops an answer may chain.
	maxCNAMEs = 8
)

// ContextDialer dials network connections; *net.Dialer satisfies it. The
// Resolver dials through it for every packet it sends, so a test can audit
// where packets go.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// ProgressEvent describes one retry of a lookup, for progress displays.
type ProgressEvent struct {
	// Name is the DNS name being looked up, fully qualified.
	Name string
	// Attempt is the number of attempts made so far.
	Attempt int
	// Elapsed is the time since the lookup started.
	Elapsed time.Duration
	// Reason says why the last attempt did not count, such as
	// "SERVFAIL (no paths yet?)" or "no reply within 5s (lookup pending?)".
	Reason string
	// Wait is the pause before the next attempt.
	Wait time.Duration
}

// Identity is the local node as its daemon reports it.
type Identity struct {
	// Address is the node's own address.
	Address Address
	// IP is the node's own IP on its TUN interface.
	IP netip.Addr
}

// Resolver asks the local Lokinet daemon's DNS server, and only that server,
// about names and IPs. Its zero value uses the default flavour's DNS address
// and timeouts. A Resolver is safe for concurrent use; do not change its
// fields while lookups run.
type Resolver struct {
	// Addr is the DNS server as "ip:port"; "" means Flavour.DNSAddr.
	Addr string
	// Flavour selects the TLD; nil means &Lokinet.
	Flavour *Flavour
	// Timeout is the whole budget of one lookup of a remote name; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// AttemptTimeout is one attempt's wait for a reply; 0 means
	// DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Logger receives a debug record per retry; nil means discard.
	Logger *slog.Logger
	// Dialer opens every connection to Addr; nil means &net.Dialer{}.
	Dialer ContextDialer
	// Progress, if set, is called synchronously on each retry.
	Progress func(ProgressEvent)
}

func (r *Resolver) flavour() *Flavour {
	if r.Flavour != nil {
		return r.Flavour
	}
	return &Lokinet
}

func (r *Resolver) addr() string {
	if r.Addr != "" {
		return r.Addr
	}
	return r.flavour().DNSAddr
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Resolver) attemptTimeout() time.Duration {
	if r.AttemptTimeout > 0 {
		return r.AttemptTimeout
	}
	return DefaultAttemptTimeout
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (r *Resolver) dialer() ContextDialer {
	if r.Dialer != nil {
		return r.Dialer
	}
	return &net.Dialer{}
}

// localName is the name under which the daemon answers with its own identity.
func (f *Flavour) localName() string { return "localhost." + f.TLD + "." }

// localBudgets returns the budget and attempt timeout for questions a live
// daemon answers at once; never more than the configured remote ones.
func (r *Resolver) localBudgets() (budget, attempt time.Duration) {
	return min(localBudget, r.timeout()), min(localAttemptTimeout, r.attemptTimeout())
}

// LookupIP returns the IP under which this node reaches host, an address or
// ONS name of the resolver's flavour (trailing dot optional). It asks for A
// records only. SERVFAIL (no paths yet) and silence (a lookup already
// pending) are retried with backoff until Timeout. Errors wrap ErrNotFound
// (NXDOMAIN), ErrUnreachable (budget spent), ErrNoDaemon (nothing answering),
// ErrBadReply, ErrInvalidTarget for a malformed host, or ctx's error.
func (r *Resolver) LookupIP(ctx context.Context, host string) (netip.Addr, error) {
	f := r.flavour()
	name, _, err := f.parseHost(host)
	if err != nil {
		return netip.Addr{}, targetErrorOp(fmt.Sprintf("resolve %q", host), err)
	}
	q := query{op: fmt.Sprintf("resolve %q", name), name: name + ".", qtype: dns.TypeA,
		budget: r.timeout(), attempt: r.attemptTimeout()}
	if q.name == f.localName() {
		q.budget, q.attempt = r.localBudgets()
		q.local = true
	}
	m, err := r.exchange(ctx, q)
	if err != nil {
		return netip.Addr{}, err
	}
	ip, err := parseA(q.name, m)
	if err != nil {
		return netip.Addr{}, badReply(q, r.addr(), err)
	}
	return ip, nil
}

// Self asks the daemon for the node's own address and IP (localhost.loki A).
// A live daemon answers at once, even before it has paths, so Self gives up
// after about 3 s: errors wrap ErrNoDaemon when nothing answered at all,
// ErrUnreachable when only SERVFAIL came back, ErrBadReply, or ctx's error.
func (r *Resolver) Self(ctx context.Context) (Identity, error) {
	f := r.flavour()
	q := query{op: "own identity (" + f.localName() + ")", name: f.localName(), qtype: dns.TypeA, local: true}
	q.budget, q.attempt = r.localBudgets()
	m, err := r.exchange(ctx, q)
	if err != nil {
		return Identity{}, err
	}
	id, err := f.parseSelf(m)
	if err != nil {
		return Identity{}, badReply(q, r.addr(), err)
	}
	return id, nil
}

// LookupAddr returns the address of the node that ip stands for in this
// node's view (PTR), the node's own address for its own IP. This is how a
// callee learns who is calling. A live daemon answers at once, so the budget
// is that of Self. Errors wrap ErrNotFound for IPs the daemon does not map,
// and otherwise as for Self.
func (r *Resolver) LookupAddr(ctx context.Context, ip netip.Addr) (Address, error) {
	if !ip.IsValid() {
		return Address{}, fmt.Errorf("lokinet: reverse lookup: invalid IP")
	}
	ip = ip.Unmap()
	arpa, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return Address{}, fmt.Errorf("lokinet: reverse lookup of %s: %w", ip, err)
	}
	q := query{op: "reverse lookup of " + ip.String(), name: arpa, qtype: dns.TypePTR, local: true}
	q.budget, q.attempt = r.localBudgets()
	m, err := r.exchange(ctx, q)
	if err != nil {
		return Address{}, err
	}
	a, err := r.flavour().parsePTR(arpa, m)
	if err != nil {
		return Address{}, badReply(q, r.addr(), err)
	}
	return a, nil
}

// query is one lookup: what to ask and how long to keep asking.
type query struct {
	op      string // for messages: `resolve "x.loki"`
	name    string // fully qualified, lower case
	qtype   uint16
	budget  time.Duration // whole lookup
	attempt time.Duration // one attempt's wait
	local   bool          // a live daemon answers at once
}

// errSilence marks an attempt that got no reply in time.
var errSilence = errors.New("no reply")

// retryable is a reply that asks for another attempt (SERVFAIL).
type retryable struct{ reason string }

func (e *retryable) Error() string { return e.reason }

// exchange runs one lookup against r.Addr over UDP (TCP on truncation),
// retrying SERVFAIL and silence with backoff within q.budget, and returns a
// reply with rcode NOERROR whose id and question match.
func (r *Resolver) exchange(ctx context.Context, q query) (*dns.Msg, error) {
	addr, log := r.addr(), r.logger()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lokinet: %s: %w", q.op, err)
	}
	start := time.Now()
	deadline := start.Add(q.budget)

	req := new(dns.Msg)
	req.SetQuestion(q.name, q.qtype)
	wire, err := req.Pack()
	if err != nil {
		return nil, fmt.Errorf("lokinet: %s: pack query: %w", q.op, err)
	}

	// Only an IP literal: a host name here would be looked up through the
	// system resolver, a DNS query outside Lokinet.
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return nil, fmt.Errorf("lokinet: %s: DNS address %q is not IP:port: %w", q.op, addr, ErrBadConfig)
	}
	conn, err := r.dialer().DialContext(ctx, "udp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lokinet: %s: %w", q.op, ctx.Err())
		}
		return nil, noDaemon(q, addr, err)
	}
	defer conn.Close()
	// Closing the conn is how cancellation interrupts a blocked read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	buf := make([]byte, dns.MaxMsgSize)
	backoff := backoffMin
	attempts, allSilent, lastReason := 0, true, ""
	exhausted := func() error {
		elapsed := roundDur(time.Since(start))
		if q.local && allSilent {
			return wrap(fmt.Sprintf("lokinet: %s: no Lokinet DNS answering at %s: no reply in %v over %d attempts: is lokinet running?",
				q.op, addr, elapsed, attempts), ErrNoDaemon, nil)
		}
		return wrap(fmt.Sprintf("lokinet: %s: unreachable: no answer after %v and %d attempts (last: %s)",
			q.op, elapsed, attempts, lastReason), ErrUnreachable, nil)
	}
	for {
		if attempts > 0 && !time.Now().Before(deadline) {
			return nil, exhausted()
		}
		attempts++
		attemptDeadline := time.Now().Add(q.attempt)
		if attemptDeadline.After(deadline) {
			attemptDeadline = deadline
		}
		resp, err := r.attemptUDP(ctx, conn, buf, req, wire, attemptDeadline)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lokinet: %s: %w", q.op, ctx.Err())
		}
		var rt *retryable
		switch {
		case err == nil:
			return resp, nil
		case errors.Is(err, errSilence):
			lastReason = fmt.Sprintf("no reply within %v", roundDur(q.attempt))
			if !q.local {
				lastReason += " (lookup pending?)"
			}
		case errors.As(err, &rt):
			allSilent = false
			lastReason = rt.reason
		case isRefused(err):
			return nil, noDaemon(q, addr, err)
		default:
			return nil, err
		}
		elapsed := time.Since(start)
		// Leave the next attempt at least minWindow to get its reply.
		wait := min(backoff, time.Until(deadline)-min(minWindow, q.attempt))
		if wait <= 0 {
			return nil, exhausted()
		}
		log.DebugContext(ctx, "lokinet: DNS lookup retry", "name", q.name, "type", dns.TypeToString[q.qtype],
			"attempt", attempts, "elapsed", elapsed, "reason", lastReason, "wait", wait)
		if r.Progress != nil {
			r.Progress(ProgressEvent{Name: q.name, Attempt: attempts, Elapsed: elapsed, Reason: lastReason, Wait: wait})
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lokinet: %s: %w", q.op, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// attemptUDP sends the query once over conn and waits until deadline for the
// reply. The same query (same id) is sent on every attempt over one socket,
// so a late reply to an earlier attempt still counts.
func (r *Resolver) attemptUDP(ctx context.Context, conn net.Conn, buf []byte, req *dns.Msg, wire []byte, deadline time.Time) (*dns.Msg, error) {
	q := req.Question[0]
	op := fmt.Sprintf("lokinet: DNS %s %s via %s", dns.TypeToString[q.Qtype], q.Name, r.addr())
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if _, err := conn.Write(wire); err != nil {
		if isTimeout(err) {
			return nil, errSilence
		}
		return nil, fmt.Errorf("%s: send: %w", op, err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		if isTimeout(err) {
			return nil, errSilence
		}
		return nil, fmt.Errorf("%s: receive: %w", op, err)
	}
	resp, err := checkReply(req, buf[:n])
	if err != nil {
		return nil, wrap(fmt.Sprintf("%s: %v", op, err), ErrBadReply, nil)
	}
	if resp.Truncated {
		r.logger().DebugContext(ctx, "lokinet: DNS reply truncated, retrying over TCP", "name", q.Name)
		resp, err = r.exchangeTCP(ctx, req, wire, deadline)
		if err != nil {
			return nil, err
		}
	}
	return rcodeResult(op, resp)
}

// exchangeTCP asks once over a fresh TCP connection to r.Addr.
func (r *Resolver) exchangeTCP(ctx context.Context, req *dns.Msg, wire []byte, deadline time.Time) (*dns.Msg, error) {
	q := req.Question[0]
	op := fmt.Sprintf("lokinet: DNS %s %s via tcp %s", dns.TypeToString[q.Qtype], q.Name, r.addr())
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := r.dialer().DialContext(dctx, "tcp", r.addr())
	if err != nil {
		if dctx.Err() != nil && ctx.Err() == nil {
			return nil, errSilence
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out := make([]byte, 2+len(wire))
	binary.BigEndian.PutUint16(out, uint16(len(wire)))
	copy(out[2:], wire)
	if _, err := conn.Write(out); err != nil {
		return nil, tcpError(op, "send", err)
	}
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, tcpError(op, "receive", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, tcpError(op, "receive", err)
	}
	resp, err := checkReply(req, body)
	if err != nil {
		return nil, wrap(fmt.Sprintf("%s: %v", op, err), ErrBadReply, nil)
	}
	return resp, nil
}

func tcpError(op, what string, err error) error {
	if isTimeout(err) {
		return errSilence
	}
	return fmt.Errorf("%s: %s: %w", op, what, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rcodeResult sorts a well-formed reply by its rcode: NOERROR is the answer,
// SERVFAIL asks for a retry, NXDOMAIN is final, anything else is not what
// Lokinet sends for the questions this package asks.
func rcodeResult(op string, m *dns.Msg) (*dns.Msg, error) {
	switch m.Rcode {
	case dns.RcodeSuccess:
		return m, nil
	case dns.RcodeServerFailure:
		return nil, &retryable{reason: "SERVFAIL (no paths yet?)"}
	case dns.RcodeNameError:
		return nil, wrap(fmt.Sprintf("%s: not found (NXDOMAIN)", op), ErrNotFound, nil)
	default:
		return nil, wrap(fmt.Sprintf("%s: unexpected rcode %s", op, rcodeString(m.Rcode)), ErrBadReply, nil)
	}
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("%d", rc)
}

// checkReply unpacks raw and checks that it is a reply to req: response bit,
// id, opcode and the one question. It never panics on arbitrary input.
func checkReply(req *dns.Msg, raw []byte) (*dns.Msg, error) {
	m := new(dns.Msg)
	if err := m.Unpack(raw); err != nil {
		return nil, fmt.Errorf("malformed reply: %v", err)
	}
	switch {
	case !m.Response:
		return nil, fmt.Errorf("reply is not a response")
	case m.Id != req.Id:
		return nil, fmt.Errorf("reply id %d, want %d", m.Id, req.Id)
	case m.Opcode != dns.OpcodeQuery:
		return nil, fmt.Errorf("reply opcode %d, want QUERY", m.Opcode)
	case len(m.Question) != 1:
		return nil, fmt.Errorf("reply has %d questions, want 1", len(m.Question))
	}
	got, want := m.Question[0], req.Question[0]
	if !strings.EqualFold(got.Name, want.Name) || got.Qtype != want.Qtype || got.Qclass != want.Qclass {
		return nil, fmt.Errorf("reply is for %s %s, asked %s %s",
			dns.TypeToString[got.Qtype], got.Name, dns.TypeToString[want.Qtype], want.Name)
	}
	return m, nil
}

// parseA finds the A record for qname in m, following CNAMEs within the
// answer, and checks that it is an IP a Lokinet daemon could hand out.
func parseA(qname string, m *dns.Msg) (netip.Addr, error) {
	owners := map[string]bool{strings.ToLower(qname): true}
	// CNAMEs may come in any order: repeat until no new owner appears.
	for range maxCNAMEs {
		grew := false
		for _, rr := range m.Answer {
			c, ok := rr.(*dns.CNAME)
			if ok && owners[strings.ToLower(c.Hdr.Name)] && !owners[strings.ToLower(c.Target)] {
				owners[strings.ToLower(c.Target)] = true
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	for _, rr := range m.Answer {
		a, ok := rr.(*dns.A)
		if !ok || !owners[strings.ToLower(a.Hdr.Name)] {
			continue
		}
		return saneIP(a.A)
	}
	return netip.Addr{}, fmt.Errorf("no A record for %s in the answer", qname)
}

// cgnat is 100.64.0.0/10, which some Lokinet setups use for their range.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// saneIP accepts the IPv4 addresses a Lokinet daemon hands out: its range is
// private (172.16/12, 10/8, 192.168/16, or 100.64/10), or loopback in test
// stand-ins. Anything else, a public IP above all, is refused: connecting to
// it would leave the onion network.
func saneIP(raw net.IP) (netip.Addr, error) {
	ip, ok := netip.AddrFromSlice(raw)
	if !ok {
		return netip.Addr{}, fmt.Errorf("A record of %d bytes", len(raw))
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return netip.Addr{}, fmt.Errorf("A record %s is not IPv4", ip)
	}
	if !(ip.IsPrivate() || ip.IsLoopback() || cgnat.Contains(ip)) || ip.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("A record %s is outside any Lokinet range (private or loopback)", ip)
	}
	return ip, nil
}

// parseSelf reads the answer to localhost.<tld> A: a CNAME from
// localhost.<tld>. to the node's own address and an A record owned by
// localhost.<tld>. (or by the address).
func (f *Flavour) parseSelf(m *dns.Msg) (Identity, error) {
	local := f.localName()
	var id Identity
	for _, rr := range m.Answer {
		c, ok := rr.(*dns.CNAME)
		if !ok || !strings.EqualFold(c.Hdr.Name, local) {
			continue
		}
		a, err := f.ParseAddress(c.Target)
		if err != nil {
			return Identity{}, fmt.Errorf("CNAME target of %s: %v", local, err)
		}
		id.Address = a
		break
	}
	if id.Address.IsZero() {
		return Identity{}, fmt.Errorf("no CNAME from %s to the node's address", local)
	}
	ip, err := parseA(local, m)
	if err != nil {
		return Identity{}, err
	}
	id.IP = ip
	return id, nil
}

// parsePTR reads the PTR record for arpa and checks that it names an address.
func (f *Flavour) parsePTR(arpa string, m *dns.Msg) (Address, error) {
	for _, rr := range m.Answer {
		p, ok := rr.(*dns.PTR)
		if !ok || !strings.EqualFold(p.Hdr.Name, arpa) {
			continue
		}
		a, err := f.ParseAddress(p.Ptr)
		if err != nil {
			return Address{}, fmt.Errorf("PTR target: %v", err)
		}
		return a, nil
	}
	return Address{}, fmt.Errorf("no PTR record for %s in the answer", arpa)
}

// isRefused reports the error a connected UDP socket (or a TCP dial) gets
// when nothing listens at the far end.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

func noDaemon(q query, addr string, cause error) error {
	return wrap(fmt.Sprintf("lokinet: %s: no Lokinet DNS answering at %s: is lokinet running? (%v)", q.op, addr, cause),
		ErrNoDaemon, cause)
}

func badReply(q query, addr string, cause error) error {
	return wrap(fmt.Sprintf("lokinet: %s: reply from %s not what Lokinet sends: %v", q.op, addr, cause), ErrBadReply, nil)
}

func targetErrorOp(op string, err error) error {
	var he *hostError
	if errors.As(err, &he) && he.addr {
		return wrap(fmt.Sprintf("lokinet: %s: %s", op, he.msg), ErrInvalidTarget, ErrInvalidAddress)
	}
	return wrap(fmt.Sprintf("lokinet: %s: %v", op, err), ErrInvalidTarget, nil)
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
