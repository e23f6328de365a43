package lokinet_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/miekg/dns"
)

var (
	selfIP = netip.MustParseAddr("127.0.0.1")
	peerIP = netip.MustParseAddr("127.0.0.2")
	onsIP  = netip.MustParseAddr("127.0.0.3")
)

type fixture struct {
	srv    *lokinettest.Server
	self   lokinet.Address
	peer   lokinet.Address
	dialer *recordingDialer
}

// newFixture starts a Lokinet-like DNS server knowing one peer by address
// and one by ONS name; tweak adjusts its Config.
func newFixture(t *testing.T, tweak func(*lokinettest.Config)) *fixture {
	t.Helper()
	f := &fixture{self: lokinettest.RandomAddress(), peer: lokinettest.RandomAddress(), dialer: &recordingDialer{}}
	cfg := lokinettest.Config{
		Self:   f.self,
		SelfIP: selfIP,
		Peers: map[string]netip.Addr{
			f.peer.String(): peerIP,
			"alice.loki":    onsIP,
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := lokinettest.Start("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("lokinettest.Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	f.srv = srv
	return f
}

// resolver returns a Resolver for the fixture's server with test-sized
// timeouts.
func (f *fixture) resolver() *lokinet.Resolver {
	return &lokinet.Resolver{
		Addr:           f.srv.Addr(),
		Timeout:        3 * time.Second,
		AttemptTimeout: 300 * time.Millisecond,
		Dialer:         f.dialer,
	}
}

// recordingDialer dials for real and records every dial; wrote, if set, is
// signalled after each packet written.
type recordingDialer struct {
	mu    sync.Mutex
	dials []string // "network address"
	wrote chan struct{}
	d     net.Dialer
}

func (d *recordingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.dials = append(d.dials, network+" "+address)
	d.mu.Unlock()
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c, wrote: d.wrote}, nil
}

func (d *recordingDialer) Dials() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dials...)
}

type watchConn struct {
	net.Conn
	wrote chan struct{}
}

func (c *watchConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if c.wrote != nil {
		select {
		case c.wrote <- struct{}{}:
		default:
		}
	}
	return n, err
}

func TestLookupIP(t *testing.T) {
	f := newFixture(t, nil)
	r := f.resolver()
	tests := []struct {
		host string
		want netip.Addr
	}{
		{f.peer.String(), peerIP},
		{f.peer.FQDN(), peerIP},
		{strings.ToUpper(f.peer.String()), peerIP},
		{"alice.loki", onsIP},
		{"Alice.Loki.", onsIP},
		{f.self.String(), selfIP},
		{"localhost.loki", selfIP},
	}
	for _, tt := range tests {
		got, err := r.LookupIP(t.Context(), tt.host)
		if err != nil || got != tt.want {
			t.Errorf("LookupIP(%q) = %v, %v; want %v", tt.host, got, err, tt.want)
		}
	}
	for _, q := range f.srv.Queries() {
		if q.Type != dns.TypeA {
			t.Errorf("resolver asked %s %s: A only", dns.TypeToString[q.Type], q.Name)
		}
	}
}

func TestLookupIPInvalidHost(t *testing.T) {
	f := newFixture(t, nil)
	r := f.resolver()
	for _, host := range []string{"", "example.com", "172.16.0.2", "a..loki", "alice.loki:7787",
		strings.Replace(f.peer.String(), string(f.peer.String()[2]), "l", 1)} {
		_, err := r.LookupIP(t.Context(), host)
		if !errors.Is(err, lokinet.ErrInvalidTarget) {
			t.Errorf("LookupIP(%q) error = %v, want ErrInvalidTarget", host, err)
		}
	}
	if qs := f.srv.Queries(); len(qs) != 0 {
		t.Errorf("invalid names reached the server: %v", qs)
	}
}

func TestLookupIPRetriesServFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *lokinettest.Config) { c.ServFailFirst = 2 })
	var logs bytes.Buffer
	var events []lokinet.ProgressEvent
	r := f.resolver()
	r.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.Progress = func(e lokinet.ProgressEvent) { events = append(events, e) }

	got, err := r.LookupIP(t.Context(), f.peer.String())
	if err != nil || got != peerIP {
		t.Fatalf("LookupIP = %v, %v; want %v", got, err, peerIP)
	}
	if len(events) != 2 {
		t.Fatalf("progress events %+v, want 2", events)
	}
	for i, e := range events {
		if e.Attempt != i+1 || e.Name != f.peer.FQDN() || !strings.Contains(e.Reason, "SERVFAIL") || e.Wait <= 0 {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if events[1].Wait <= events[0].Wait {
		t.Errorf("backoff did not grow: %v then %v", events[0].Wait, events[1].Wait)
	}
	if n := strings.Count(logs.String(), "retry"); n != 2 {
		t.Errorf("%d retry log records, want 2:\n%s", n, logs.String())
	}
	// One socket for the whole lookup.
	if d := f.dialer.Dials(); len(d) != 1 {
		t.Errorf("dials %v, want one", d)
	}
}

func TestLookupIPRetriesSilence(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *lokinettest.Config) { c.SilentFirst = 2 })
	var events []lokinet.ProgressEvent
	r := f.resolver()
	r.Progress = func(e lokinet.ProgressEvent) { events = append(events, e) }
	got, err := r.LookupIP(t.Context(), "alice.loki")
	if err != nil || got != onsIP {
		t.Fatalf("LookupIP = %v, %v; want %v", got, err, onsIP)
	}
	if len(events) != 2 || !strings.Contains(events[0].Reason, "no reply within 300ms") {
		t.Fatalf("progress events %+v", events)
	}
	if n := len(f.srv.Queries()); n != 3 {
		t.Fatalf("server saw %d queries, want 3", n)
	}
}

func TestLookupIPLateReplyCounts(t *testing.T) {
	t.Parallel()
	// The reply to the first attempt arrives after that attempt gave up:
	// the resolver keeps its socket and still takes it.
	f := newFixture(t, func(c *lokinettest.Config) { c.Delay = 200 * time.Millisecond })
	r := f.resolver()
	r.AttemptTimeout = 100 * time.Millisecond
	start := time.Now()
	got, err := r.LookupIP(t.Context(), f.peer.String())
	if err != nil || got != peerIP {
		t.Fatalf("LookupIP = %v, %v", got, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
}

func TestLookupIPNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *lokinettest.Config) { c.ServFailFirst = 1 })
	r := f.resolver()
	unknown := lokinettest.RandomAddress()
	_, err := r.LookupIP(t.Context(), unknown.String())
	if !errors.Is(err, lokinet.ErrNotFound) {
		t.Fatalf("error = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), unknown.String()) {
		t.Errorf("error %q does not name %s", err, unknown)
	}
	if n := len(f.srv.Queries()); n != 2 {
		t.Errorf("server saw %d queries, want 2 (SERVFAIL, then NXDOMAIN at once)", n)
	}
	if _, err := r.LookupIP(t.Context(), "carol.loki"); !errors.Is(err, lokinet.ErrNotFound) {
		t.Errorf("ONS error = %v, want ErrNotFound", err)
	}
}

// deadAddr returns a loopback UDP address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestNoDaemon(t *testing.T) {
	addr := deadAddr(t)
	r := &lokinet.Resolver{Addr: addr, Timeout: 3 * time.Second, AttemptTimeout: time.Second}
	peer := lokinettest.RandomAddress()
	calls := []struct {
		name string
		call func() error
	}{
		{"LookupIP", func() error { _, err := r.LookupIP(t.Context(), peer.String()); return err }},
		{"Self", func() error { _, err := r.Self(t.Context()); return err }},
		{"LookupAddr", func() error { _, err := r.LookupAddr(t.Context(), peerIP); return err }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		if !errors.Is(err, lokinet.ErrNoDaemon) {
			t.Fatalf("%s error = %v, want ErrNoDaemon", c.name, err)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Errorf("%s took %v to notice nothing listens", c.name, el)
		}
		want := "no Lokinet DNS answering at " + addr + ": is lokinet running?"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s error %q does not say %q", c.name, err, want)
		}
	}
}

func TestSelfSilentServerIsNoDaemon(t *testing.T) {
	t.Parallel()
	// Something holds the port but never answers: a live Lokinet answers
	// localhost.loki at once, so Self gives up after its short budget.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := &lokinet.Resolver{Addr: pc.LocalAddr().String(), Timeout: 600 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond}
	start := time.Now()
	_, err = r.Self(t.Context())
	if !errors.Is(err, lokinet.ErrNoDaemon) || !strings.Contains(err.Error(), "attempts") {
		t.Fatalf("Self error = %v, want ErrNoDaemon naming the attempts", err)
	}
	if el := time.Since(start); el < 500*time.Millisecond || el > 2*time.Second {
		t.Errorf("Self gave up after %v, want about 600ms", el)
	}
}

func TestLookupIPUnreachable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tweak  func(*lokinettest.Config)
		reason string
	}{
		{"servfail", func(c *lokinettest.Config) { c.ServFailFirst = 1 << 20 }, "SERVFAIL"},
		{"silent", func(c *lokinettest.Config) { c.SilentFirst = 1 << 20 }, "no reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.tweak)
			r := f.resolver()
			r.Timeout = 700 * time.Millisecond
			start := time.Now()
			_, err := r.LookupIP(t.Context(), f.peer.String())
			el := time.Since(start)
			if !errors.Is(err, lokinet.ErrUnreachable) {
				t.Fatalf("error = %v, want ErrUnreachable", err)
			}
			if !strings.Contains(err.Error(), "attempts") || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not give attempts and %q", err, tc.reason)
			}
			if el < 600*time.Millisecond || el > 3*time.Second {
				t.Errorf("gave up after %v, want about 700ms", el)
			}
			if n := len(f.srv.Queries()); n < 2 {
				t.Errorf("only %d attempts", n)
			}
		})
	}
}

func TestLookupIPContextCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *lokinettest.Config) { c.Delay = time.Hour })
	f.dialer.wrote = make(chan struct{}, 1)
	r := f.resolver()
	r.AttemptTimeout = time.Hour
	r.Timeout = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-f.dialer.wrote
		cancel()
	}()
	start := time.Now()
	_, err := r.LookupIP(ctx, f.peer.String())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancellation took %v", el)
	}

	ctx, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if _, err := r.LookupIP(ctx, f.peer.String()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
	done, cancel3 := context.WithCancel(t.Context())
	cancel3()
	if _, err := r.Self(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Self on a cancelled context: %v", err)
	}
}

func TestSelf(t *testing.T) {
	f := newFixture(t, func(c *lokinettest.Config) { c.ServFailFirst = 100 }) // no paths yet
	id, err := f.resolver().Self(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if id.Address != f.self || id.IP != selfIP {
		t.Fatalf("Self = %+v, want %s %s", id, f.self, selfIP)
	}
}

func TestSelfOtherFlavour(t *testing.T) {
	sesh := lokinet.Flavour{Name: "session-router", TLD: "sesh", DNSAddr: "127.0.0.1:53"}
	self := sesh.AddressFromKey(lokinettest.RandomAddress().PublicKey())
	srv, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{Self: self, SelfIP: selfIP})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := &lokinet.Resolver{Addr: srv.Addr(), Flavour: &sesh, Timeout: time.Second}
	id, err := r.Self(t.Context())
	if err != nil || id.Address != self || !strings.HasSuffix(id.Address.String(), ".sesh") {
		t.Fatalf("Self = %+v, %v; want %s", id, err, self)
	}
	if q := srv.Queries(); len(q) != 1 || q[0].Name != "localhost.sesh." {
		t.Fatalf("queries %v", q)
	}
}

func TestLookupAddr(t *testing.T) {
	f := newFixture(t, nil)
	r := f.resolver()
	for _, tc := range []struct {
		ip   netip.Addr
		want lokinet.Address
		err  error
	}{
		{ip: peerIP, want: f.peer},
		{ip: selfIP, want: f.self},
		{ip: netip.AddrFrom16(peerIP.As16()), want: f.peer}, // IPv4-mapped
		{ip: onsIP, err: lokinet.ErrNotFound},               // mapped by ONS name only
		{ip: netip.MustParseAddr("127.0.0.99"), err: lokinet.ErrNotFound},
	} {
		got, err := r.LookupAddr(t.Context(), tc.ip)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("LookupAddr(%v) error = %v, want %v", tc.ip, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("LookupAddr(%v) = %v, %v; want %v", tc.ip, got, err, tc.want)
		}
	}
	if _, err := r.LookupAddr(t.Context(), netip.Addr{}); err == nil {
		t.Error("LookupAddr(invalid IP) succeeded")
	}
	for _, q := range f.srv.Queries() {
		if q.Type != dns.TypePTR || !strings.HasSuffix(q.Name, ".in-addr.arpa.") {
			t.Errorf("reverse lookup asked %s %s", dns.TypeToString[q.Type], q.Name)
		}
	}
}

func TestTruncatedReplyFallsBackToTCP(t *testing.T) {
	f := newFixture(t, func(c *lokinettest.Config) { c.TruncateUDP = true })
	r := f.resolver()
	got, err := r.LookupIP(t.Context(), f.peer.String())
	if err != nil || got != peerIP {
		t.Fatalf("LookupIP = %v, %v", got, err)
	}
	want := []string{"udp " + f.srv.Addr(), "tcp " + f.srv.Addr()}
	if d := f.dialer.Dials(); strings.Join(d, ",") != strings.Join(want, ",") {
		t.Fatalf("dials %v, want %v", d, want)
	}
	qs := f.srv.Queries()
	if len(qs) != 2 || qs[0].Net != "udp" || qs[1].Net != "tcp" {
		t.Fatalf("queries %+v", qs)
	}
}

// TestAuditOnlyConfiguredServer proves that every dial goes to r.Addr and
// that a second DNS server, as a stand-in for any other resolver, hears
// nothing, across every kind of lookup and outcome.
func TestAuditOnlyConfiguredServer(t *testing.T) {
	t.Parallel()
	decoy := newFixture(t, nil)
	f := newFixture(t, func(c *lokinettest.Config) { c.ServFailFirst = 1; c.SilentFirst = 1 })
	r := f.resolver()
	ctx := t.Context()
	if _, err := r.LookupIP(ctx, f.peer.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupIP(ctx, "alice.loki"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupIP(ctx, lokinettest.RandomAddress().String()); !errors.Is(err, lokinet.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := r.Self(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupAddr(ctx, peerIP); err != nil {
		t.Fatal(err)
	}
	if _, err := lokinet.Discover(ctx, r, lokinet.DiscoverOptions{Probe: loProbe()}); err != nil {
		t.Fatal(err)
	}
	dials := f.dialer.Dials()
	if len(dials) < 6 {
		t.Fatalf("only %d dials recorded: %v", len(dials), dials)
	}
	for _, d := range dials {
		if d != "udp "+f.srv.Addr() && d != "tcp "+f.srv.Addr() {
			t.Errorf("dial to %q, want only %s", d, f.srv.Addr())
		}
	}
	if q := decoy.srv.Queries(); len(q) != 0 {
		t.Errorf("decoy DNS server received %d queries: %v", len(q), q)
	}
	if len(f.srv.Queries()) == 0 {
		t.Error("configured server received nothing")
	}
}

// badServer answers every query with the reply mutate makes of a correct one.
func badServer(t *testing.T, mutate func(req, resp *dns.Msg)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			resp := new(dns.Msg).SetReply(req)
			mutate(req, resp)
			w.WriteMsg(resp)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestBadReplies(t *testing.T) {
	t.Parallel()
	peer := lokinettest.RandomAddress()
	a := func(ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: peer.FQDN(), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP(ip)}
	}
	tests := []struct {
		name    string
		mutate  func(req, resp *dns.Msg)
		errPart string
	}{
		{"wrong id", func(_, m *dns.Msg) { m.Id++; m.Answer = []dns.RR{a("172.16.0.2")} }, "reply id"},
		{"wrong question", func(_, m *dns.Msg) { m.Question[0].Name = "other.loki." }, "reply is for"},
		{"refused", func(_, m *dns.Msg) { m.Rcode = dns.RcodeRefused }, "REFUSED"},
		{"public IP", func(_, m *dns.Msg) { m.Answer = []dns.RR{a("93.184.216.34")} }, "outside any Lokinet range"},
		{"no answer", func(*dns.Msg, *dns.Msg) {}, "no A record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &lokinet.Resolver{Addr: badServer(t, tt.mutate), Timeout: time.Second, AttemptTimeout: 200 * time.Millisecond}
			_, err := r.LookupIP(t.Context(), peer.String())
			if !errors.Is(err, lokinet.ErrBadReply) || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("error = %v, want ErrBadReply containing %q", err, tt.errPart)
			}
		})
	}
	t.Run("PTR to ONS name", func(t *testing.T) {
		r := &lokinet.Resolver{Addr: badServer(t, func(req, m *dns.Msg) {
			m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 1}, Ptr: "alice.loki."}}
		}), Timeout: time.Second}
		if _, err := r.LookupAddr(t.Context(), peerIP); !errors.Is(err, lokinet.ErrBadReply) {
			t.Fatalf("error = %v, want ErrBadReply", err)
		}
	})
}
