package call

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/media"
)

// peer is one side of an in-process test call: a node on a loopback address
// standing in for its Lokinet address, with its own Lokinet-like DNS server.
type peer struct {
	node lokinet.Node
	dns  *lokinettest.Server
	res  *lokinet.Resolver
	mu   sync.Mutex
	evs  []Event
}

func (p *peer) events(ev Event) {
	p.mu.Lock()
	p.evs = append(p.evs, ev)
	p.mu.Unlock()
}

func (p *peer) has(kind EventKind, match func(Event) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range p.evs {
		if ev.Kind == kind && (match == nil || match(ev)) {
			return true
		}
	}
	return false
}

func newPeers(t *testing.T, aliceIP, bobIP string) (*peer, *peer) {
	t.Helper()
	mk := func(ip string) *peer {
		return &peer{node: lokinet.Node{
			Address:   lokinettest.RandomAddress(),
			IP:        netip.MustParseAddr(ip),
			Interface: "lo",
			Range:     netip.MustParsePrefix("127.0.0.0/8"),
		}}
	}
	a, b := mk(aliceIP), mk(bobIP)
	for _, pr := range []struct{ self, other *peer }{{a, b}, {b, a}} {
		srv, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{
			Self: pr.self.node.Address, SelfIP: pr.self.node.IP,
			Peers: map[string]netip.Addr{pr.other.node.Address.String(): pr.other.node.IP},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		pr.self.dns = srv
		pr.self.res = &lokinet.Resolver{Addr: srv.Addr(), Timeout: 5 * time.Second, AttemptTimeout: time.Second}
	}
	return a, b
}

// target is how a caller addresses p on the given signalling port.
func (p *peer) target(port uint16) lokinet.Target {
	return lokinet.Target{Host: p.node.Address.String(), Address: p.node.Address, Port: port}
}

func (p *peer) config(in, out string, d time.Duration) Config {
	inSpec, err := media.ParseSpec(in)
	if err != nil {
		panic(err)
	}
	outSpec, err := media.ParseSpec(out)
	if err != nil {
		panic(err)
	}
	return Config{Node: p.node, Resolver: p.res, In: inSpec, Out: outSpec, Duration: d, Events: p.events}
}

// listen starts b listening and returns when it is, plus a channel with
// Listen's result.
func listen(t *testing.T, ctx context.Context, b *peer, lc ListenConfig) <-chan error {
	t.Helper()
	ready := make(chan struct{})
	var once sync.Once
	inner := lc.Events
	lc.Events = func(ev Event) {
		if ev.Kind == EventListen {
			once.Do(func() { close(ready) })
		}
		inner(ev)
	}
	done := make(chan error, 1)
	go func() { done <- Listen(ctx, lc) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("listen: %v", err)
	}
	return done
}

// TestCallPrivacyAndAudio runs a whole call in one process and proves, from
// the kernel's own socket table, that every socket was bound to a Lokinet
// address or talked only to a configured Lokinet DNS server, and that no DNS
// query went through the system resolver; the callee heard the caller's tone
// and learned the caller's address from PTR.
func TestCallPrivacyAndAudio(t *testing.T) {
	var trapped []string
	var trapMu sync.Mutex
	orig := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(_ context.Context, network, address string) (net.Conn, error) {
		trapMu.Lock()
		trapped = append(trapped, network+" "+address)
		trapMu.Unlock()
		return nil, errors.New("system resolver used")
	}}
	t.Cleanup(func() { net.DefaultResolver = orig })

	alice, bob := newPeers(t, "127.77.1.1", "127.77.1.2")
	wav := filepath.Join(t.TempDir(), "heard.wav")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	watcher := watchSockets(2 * time.Millisecond)
	done := listen(t, ctx, bob, ListenConfig{Config: bob.config("tone:660", "file:"+wav, 0), Port: 17787, Accept: AcceptAll, MaxCalls: 1})
	target := bob.target(17787)
	stats, err := Dial(ctx, alice.config("tone:440", "null", 2*time.Second), target)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("callee: %v", err)
	}
	seen, err := watcher.Stop()
	if err != nil {
		t.Fatal(err)
	}

	allowedRemote := map[netip.AddrPort]bool{
		netip.MustParseAddrPort(alice.dns.Addr()): true,
		netip.MustParseAddrPort(bob.dns.Addr()):   true,
	}
	nodeIPs := map[netip.Addr]bool{alice.node.IP: true, bob.node.IP: true}
	for _, s := range seen {
		switch {
		case nodeIPs[s.Local.Addr()]:
		case allowedRemote[s.Local] || allowedRemote[s.Remote]:
			// a stand-in DNS server of the test, or a resolver's query to it
		default:
			t.Errorf("socket outside Lokinet: %v", s)
		}
	}
	trapMu.Lock()
	if len(trapped) > 0 {
		t.Errorf("DNS went through the system resolver: %v", trapped)
	}
	trapMu.Unlock()

	if !bob.has(EventCaller, func(ev Event) bool { return ev.Peer == alice.node.Address.String() }) {
		t.Errorf("callee did not report the caller's address %s", alice.node.Address)
	}
	// The caller's --duration ended the call: each side says who ended it.
	endedBy := func(by string) func(Event) bool {
		return func(ev Event) bool { return ev.State == StateEnded && ev.By == by }
	}
	if !alice.has(EventState, endedBy(EndedByLocal)) || !bob.has(EventState, endedBy(EndedByPeer)) {
		t.Errorf("ended events do not say the caller ended the call: caller %v, callee %v", alice.evs, bob.evs)
	}
	if stats == nil || stats.PacketsReceived == 0 || stats.FramesPlayed == 0 {
		t.Fatalf("caller stats %+v", stats)
	}
	pcm, rate, err := media.ReadWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	secs := float64(len(pcm)) / float64(rate)
	if secs < 1.5 || secs > 3 {
		t.Errorf("callee recorded %.2f s, want about 2 s", secs)
	}
	if f := media.DominantFrequency(pcm, rate); math.Abs(f-440) > 5 {
		t.Errorf("callee heard %.1f Hz, want 440", f)
	}
}

// TestSocketAuditCatchesLeaks is the negative control of the audit above: a
// socket on the wildcard address and a query to another DNS server are seen.
func TestSocketAuditCatchesLeaks(t *testing.T) {
	w := watchSockets(time.Millisecond)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(20 * time.Millisecond) // let the watcher sample at least once
	seen, err := w.Stop()
	if err != nil {
		t.Fatal(err)
	}
	want := c.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, s := range seen {
		if s.Proto == "udp" && s.Local.Port() == want.Port() && s.Local.Addr().IsUnspecified() {
			return
		}
	}
	t.Fatalf("audit missed a wildcard socket %v among %v", want, seen)
}

func TestCallRejected(t *testing.T) {
	alice, bob := newPeers(t, "127.77.2.1", "127.77.2.2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := listen(t, ctx, bob, ListenConfig{Config: bob.config("silence", "null", 0), Port: 17788, Accept: DeclineAll, MaxCalls: 1})
	target := bob.target(17788)
	if _, err := Dial(ctx, alice.config("tone:440", "null", time.Second), target); !errors.Is(err, ErrRejected) {
		t.Fatalf("dial: %v, want ErrRejected", err)
	}
	if err := <-done; !errors.Is(err, ErrRejected) {
		t.Fatalf("callee: %v, want ErrRejected", err)
	}
}

func TestCallUnknownAndDeadLokinet(t *testing.T) {
	alice, _ := newPeers(t, "127.77.3.1", "127.77.3.2")
	ctx := context.Background()
	unknown := lokinettest.RandomAddress()
	if _, err := Dial(ctx, alice.config("silence", "null", 0), lokinet.Target{Host: unknown.String(), Address: unknown}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("unknown address: %v, want ErrUnreachable", err)
	}
	dead := alice.config("silence", "null", 0)
	addr := alice.dns.Addr()
	_ = alice.dns.Close()
	dead.Resolver = &lokinet.Resolver{Addr: addr, Timeout: 2 * time.Second, AttemptTimeout: 500 * time.Millisecond}
	if _, err := Dial(ctx, dead, lokinet.Target{Host: unknown.String(), Address: unknown}); !errors.Is(err, ErrNoLokinet) {
		t.Errorf("dead Lokinet: %v, want ErrNoLokinet", err)
	}
}

func TestEstimateMOS(t *testing.T) {
	for _, tc := range []struct {
		oneWay, jitter time.Duration
		loss           float64
		lo, hi         float64
	}{
		{20 * time.Millisecond, 0, 0, 4.3, 4.45},
		{150 * time.Millisecond, 5 * time.Millisecond, 0, 4.0, 4.4},
		{400 * time.Millisecond, 20 * time.Millisecond, 0, 2.5, 3.9},
		{150 * time.Millisecond, 0, 10, 2.5, 3.6},
		{5 * time.Second, 0, 50, 1, 1},
	} {
		got := EstimateMOS(tc.oneWay, tc.jitter, tc.loss)
		if got < tc.lo || got > tc.hi {
			t.Errorf("MOS(%v, %v, %.0f%%) = %.2f, want %.2f..%.2f", tc.oneWay, tc.jitter, tc.loss, got, tc.lo, tc.hi)
		}
	}
}

// TestCallBusyRingTimeoutAndMissed: while one call rings, a second gets busy;
// a callee that never decides declines with "timeout" when ringing times out;
// a caller who gives up while ringing shows as a missed call on the callee.
func TestCallBusyRingTimeoutAndMissed(t *testing.T) {
	alice, bob := newPeers(t, "127.77.4.1", "127.77.4.2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ringing := make(chan struct{}, 4)
	undecided := func(ctx context.Context, _ lokinet.Address) Decision {
		ringing <- struct{}{}
		<-ctx.Done()
		return Decision{}
	}
	var ends []error
	var mu sync.Mutex
	ended := make(chan struct{}, 2)
	cfg := bob.config("silence", "null", 0)
	cfg.RingTimeout = 2 * time.Second
	done := listen(t, ctx, bob, ListenConfig{Config: cfg, Port: 17789, Accept: undecided, MaxCalls: 2,
		OnCallEnd: func(_ *Stats, err error) {
			mu.Lock()
			ends = append(ends, err)
			mu.Unlock()
			ended <- struct{}{}
		}})
	waitRinging := func(dialErr <-chan error) {
		t.Helper()
		select {
		case <-ringing:
		case err := <-dialErr:
			t.Fatalf("call ended before it rang: %v", err)
		case <-ctx.Done():
			t.Fatal("no ringing")
		}
	}
	target := bob.target(17789)

	first := make(chan error, 1)
	acfg := alice.config("silence", "null", 0)
	acfg.RingTimeout = 2 * time.Second
	go func() { _, err := Dial(ctx, acfg, target); first <- err }()
	waitRinging(first)
	if _, err := Dial(ctx, acfg, target); !errors.Is(err, ErrBusy) {
		t.Errorf("second call: %v, want ErrBusy", err)
	}
	if !bob.has(EventMissed, func(ev Event) bool { return ev.Reason == "busy" && ev.Peer == alice.node.Address.String() }) {
		t.Error("the callee did not log the caller it turned away as busy")
	}
	if err := <-first; !errors.Is(err, ErrTimeout) {
		t.Errorf("unanswered call: %v, want ErrTimeout", err)
	}
	<-ended // the callee is free again

	cctx, hangUp := context.WithCancel(ctx)
	missed := make(chan error, 1)
	go func() { _, err := Dial(cctx, acfg, target); missed <- err }()
	waitRinging(missed)
	hangUp()
	if err := <-missed; !errors.Is(err, context.Canceled) {
		t.Errorf("caller giving up: %v, want context.Canceled", err)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(ends) != 2 || !errors.Is(ends[0], ErrRejected) || !errors.Is(ends[1], ErrCallerHungUp) {
		t.Errorf("callee saw %v, want [rejected (timeout), caller hung up]", ends)
	}
}
