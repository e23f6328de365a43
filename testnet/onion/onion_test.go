package onion

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func TestLayersRoundTrip(t *testing.T) {
	t.Parallel()
	var hops []*hopKeys
	var relays []*relayHopState
	for range 4 {
		r, err := NewRelay(RelayConfig{Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		r.conn.Close()
		k, eph, err := nodeHop(r.key.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		rk, err := relayHopKeys(r.key, eph)
		if err != nil {
			t.Fatal(err)
		}
		hops = append(hops, k)
		relays = append(relays, &relayHopState{rk})
	}
	msg := []byte("hello through four relays")
	// Down: each relay peels one layer and XORs the nonce.
	n := randomNonce()
	ct := sealDown(hops, n, msg)
	for i, r := range relays {
		pt, err := r.keys.down.Open(nil, n[:], ct, nil)
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		if i < len(relays)-1 && bytes.Contains(pt, msg) {
			t.Fatalf("hop %d sees the plaintext", i)
		}
		ct, n = pt, n.xor(r.keys.xor)
	}
	if !bytes.Equal(ct, msg) {
		t.Fatalf("terminal got %q", ct)
	}
	// Up: the terminal seals, each relay adds a layer, the node peels all.
	n = randomNonce()
	ct = relays[3].keys.up.Seal(nil, n[:], msg, nil)
	for i := 2; i >= 0; i-- {
		n = n.xor(relays[i].keys.xor)
		ct = relays[i].keys.up.Seal(nil, n[:], ct, nil)
	}
	got, err := openUp(hops, n, ct)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("openUp = %q, %v", got, err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := openUp(hops, n, ct); !errors.Is(err, ErrAuth) {
		t.Fatalf("tampered packet: err = %v, want ErrAuth", err)
	}
}

type relayHopState struct{ keys *hopKeys }

func TestIntroSignature(t *testing.T) {
	t.Parallel()
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	in := Intro{Relay: netip.MustParseAddrPort("10.0.0.1:1090"), Key: make([]byte, 32), Expires: time.Now().Add(time.Minute)}
	in.Sign(id)
	if err := in.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	forged := in
	forged.Relay = netip.MustParseAddrPort("10.0.0.66:1090")
	if err := forged.Verify(time.Now()); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged intro: err = %v", err)
	}
	if err := in.Verify(in.Expires.Add(time.Second)); !errors.Is(err, ErrAuth) {
		t.Fatalf("expired intro: err = %v", err)
	}
}

// testNet is a directory and relays on loopback.
type testNet struct {
	dir    *DirectoryClient
	relays []*Relay
	stop   []context.CancelFunc
	done   []chan struct{}
}

func newTestNet(t *testing.T, n int, lk LinkConfig) *testNet {
	return newTappedNet(t, n, lk, nil)
}

func newTappedNet(t *testing.T, n int, lk LinkConfig, tap func([]byte)) *testNet {
	t.Helper()
	srv := httptest.NewServer(NewDirectory(DirectoryConfig{RelayTTL: 600 * time.Millisecond, Logger: testLogger(t)}))
	t.Cleanup(srv.Close)
	tn := &testNet{dir: &DirectoryClient{URL: srv.URL}}
	for range n {
		r, err := NewRelay(RelayConfig{Listen: "127.0.0.1:0", Directory: tn.dir, Heartbeat: 100 * time.Millisecond, Link: lk, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		r.tap = tap
		if err := tn.dir.Heartbeat(t.Context(), r.Info()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := r.Run(ctx); err != nil {
				t.Errorf("relay: %v", err)
			}
		}()
		tn.relays = append(tn.relays, r)
		tn.stop = append(tn.stop, cancel)
		tn.done = append(tn.done, done)
	}
	t.Cleanup(func() {
		for i := range tn.stop {
			tn.stop[i]()
			<-tn.done[i]
		}
	})
	return tn
}

func (tn *testNet) kill(addr netip.AddrPort) bool {
	for i, r := range tn.relays {
		if r.Addr() == addr {
			tn.stop[i]()
			<-tn.done[i]
			return true
		}
	}
	return false
}

type recv struct {
	from lokinet.Address
	pkt  []byte
}

func newTestEndpoint(t *testing.T, tn *testNet, hops int) (*Endpoint, chan recv) {
	t.Helper()
	return newConfiguredEndpoint(t, tn, hops, 64, nil)
}

// newConfiguredEndpoint is newTestEndpoint with a receive queue of depth
// packets and cfg changed by configure, if not nil.
func newConfiguredEndpoint(t *testing.T, tn *testNet, hops, depth int, configure func(*EndpointConfig)) (*Endpoint, chan recv) {
	t.Helper()
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	ch := make(chan recv, depth)
	cfg := EndpointConfig{
		Identity: id, Directory: tn.dir, Listen: "127.0.0.1:0", Hops: hops,
		ProbeInterval: 50 * time.Millisecond, DeadAfter: 400 * time.Millisecond,
		Handler: func(from lokinet.Address, pkt []byte) {
			select {
			case ch <- recv{from, slices.Clone(pkt)}:
			default:
			}
		},
		Logger: testLogger(t),
	}
	if configure != nil {
		configure(&cfg)
	}
	e, err := NewEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := e.Run(ctx); err != nil {
			t.Errorf("endpoint: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-e.PathReady():
	case <-time.After(10 * time.Second):
		t.Fatal("no path within 10 s")
	}
	return e, ch
}

// deliver sends payload from one endpoint to another until the receiver's
// channel ch gets it, and returns the time from the send that got through
// to its delivery. The network carries datagrams: on a loaded machine a
// path can be declared dead and replaced (DeadAfter is short in these
// tests), losing what was in flight, so a packet not received within a
// second is sent again; nothing received within 10 s fails the test.
// Other payloads on ch (late copies of earlier packets) are skipped.
func deliver(t *testing.T, from, to *Endpoint, ch chan recv, payload string) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 1; ; attempt++ {
		sent := time.Now()
		if err := from.Send(to.Address(), []byte(payload)); err != nil && !errors.Is(err, ErrNoPath) {
			t.Fatal(err)
		}
		wait := time.After(time.Second)
	recv:
		for {
			select {
			case r := <-ch:
				if r.from != from.Address() {
					t.Fatalf("got %q from %s, want %q from %s", r.pkt, r.from, payload, from.Address())
				}
				if string(r.pkt) == payload {
					if attempt > 1 {
						t.Logf("%q arrived at attempt %d", payload, attempt)
					}
					return time.Since(sent)
				}
			case <-wait:
				break recv
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing received in %d attempts over 10 s, want %q", attempt, payload)
		}
	}
}

func TestEndpointsExchange(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t, 6, LinkConfig{})
	a, _ := newTestEndpoint(t, tn, 3)
	b, bch := newTestEndpoint(t, tn, 3)
	_, aAddrCh := a, b
	_ = aAddrCh
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	_, unknown, _ := ed25519.GenerateKey(rand.Reader)
	if err := a.Open(ctx, lokinet.AddressFromKey(unknown.Public().(ed25519.PublicKey))); !errors.Is(err, ErrUnknownAddress) {
		t.Fatalf("Open(unknown) = %v, want ErrUnknownAddress", err)
	}
	if err := a.Send(b.Address(), []byte("x")); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Send before Open = %v, want ErrNoSession", err)
	}
	if err := a.Open(ctx, b.Address()); err != nil {
		t.Fatal(err)
	}
	if !b.Ready(a.Address()) {
		t.Fatal("b has no session with a after a's open")
	}
	deliver(t, a, b, bch, "ping")
}

func TestEndpointsRTTMatchesLinkDelay(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Millisecond
	tn := newTestNet(t, 6, LinkConfig{Delay: delay})
	a, ach := newTestEndpoint(t, tn, 2)
	b, bch := newTestEndpoint(t, tn, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Open(ctx, b.Address()); err != nil {
		t.Fatal(err)
	}
	// a → b → a crosses 2 × (2 + 2) relay egress links.
	want := 8 * delay
	// The best of 10 round trips: a loaded machine only adds delay, so
	// the best one shows the modelled delay plus a little scheduling.
	var best time.Duration
	for i := range 10 {
		rtt := deliver(t, a, b, bch, fmt.Sprintf("ping %d", i)) + deliver(t, b, a, ach, fmt.Sprintf("pong %d", i))
		if i == 0 || rtt < best {
			best = rtt
		}
	}
	t.Logf("best RTT %v, modelled %v", best, want)
	if best < want || best > want+40*time.Millisecond {
		t.Fatalf("RTT %v, want about %v", best, want)
	}
}

func TestPathRebuiltAfterRelayDies(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t, 8, LinkConfig{})
	a, _ := newTestEndpoint(t, tn, 3)
	b, bch := newTestEndpoint(t, tn, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := a.Open(ctx, b.Address()); err != nil {
		t.Fatal(err)
	}
	old := a.Path()
	if !tn.kill(old[1]) {
		t.Fatalf("relay %s not found", old[1])
	}
	killed := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = a.Send(b.Address(), []byte("after"))
		select {
		case r := <-bch:
			if string(r.pkt) == "after" {
				t.Logf("traffic stopped for %v; new path %v (old %v)", time.Since(killed), a.Path(), old)
				if slices.Contains(a.Path(), old[1]) {
					t.Fatal("new path still uses the dead relay")
				}
				return
			}
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("traffic did not resume within 20 s")
		}
	}
}

// No relay sees a node's address, either node's end-to-end key or the
// payload in anything it receives or decrypts.
func TestRelaysSeeOnlyCiphertext(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen [][]byte
	tn := newTappedNet(t, 6, LinkConfig{}, func(b []byte) {
		mu.Lock()
		seen = append(seen, slices.Clone(b))
		mu.Unlock()
	})
	a, ach := newTestEndpoint(t, tn, 3)
	b, bch := newTestEndpoint(t, tn, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Open(ctx, b.Address()); err != nil {
		t.Fatal(err)
	}
	secret := "the content of a call, in the clear"
	deliver(t, a, b, bch, secret)
	deliver(t, b, a, ach, secret)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("tap saw nothing")
	}
	secrets := map[string][]byte{
		"payload":      []byte(secret),
		"a's identity": a.Address().PublicKey(), "b's identity": b.Address().PublicKey(),
		"a's e2e key": a.xkey.PublicKey().Bytes(), "b's e2e key": b.xkey.PublicKey().Bytes(),
	}
	for _, pkt := range seen {
		for what, s := range secrets {
			if bytes.Contains(pkt, s) {
				t.Fatalf("a relay saw %s", what)
			}
		}
	}
}
