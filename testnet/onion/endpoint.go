package onion

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// Endpoint defaults.
const (
	DefaultHops          = 4
	DefaultProbeInterval = 200 * time.Millisecond
	DefaultDeadAfter     = time.Second
	DefaultBuildTimeout  = 3 * time.Second
	DefaultIntroLifetime = 10 * time.Minute
	// reopenWindow is how recently a peer must have exchanged packets for
	// the endpoint to tell it about a rebuilt path.
	reopenWindow = time.Minute
	// gapReport is the silence from a peer after which the endpoint logs
	// how long its packets stopped.
	gapReport = 500 * time.Millisecond
)

// EndpointConfig configures an Endpoint. Zero fields mean defaults; Identity
// and Directory are required.
type EndpointConfig struct {
	// Identity is the node's ed25519 key; its public half is the address.
	Identity ed25519.PrivateKey
	// Directory is where relays are listed and introductions published.
	Directory *DirectoryClient
	// Listen is the node's UDP address towards its first relay;
	// "0.0.0.0:0" if empty.
	Listen string
	// Hops is the number of relays in the node's path, the last one being
	// its introduction relay; DefaultHops if zero.
	Hops int
	// ProbeInterval is how often the path is pinged; DefaultProbeInterval
	// if zero.
	ProbeInterval time.Duration
	// DeadAfter is the silence after which a path is declared dead and
	// rebuilt; DefaultDeadAfter if zero.
	DeadAfter time.Duration
	// BuildTimeout bounds one path build; DefaultBuildTimeout if zero.
	BuildTimeout time.Duration
	// Handler receives every data packet from another node, on the
	// endpoint's receive goroutine; pkt is only valid during the call.
	Handler func(from lokinet.Address, pkt []byte)
	// Logger receives the endpoint's log; none if nil.
	Logger *slog.Logger
}

// Endpoint is a node's presence in the emulated network: one path of relays
// ending at its introduction relay, kept alive and rebuilt when it dies, and
// end-to-end sessions with other nodes.
type Endpoint struct {
	cfg   EndpointConfig
	self  lokinet.Address
	xkey  *ecdh.PrivateKey
	cert  []byte
	conn  *net.UDPConn
	log   *slog.Logger
	start time.Time

	mu      sync.Mutex
	current *clientPath
	paths   map[PathID]*clientPath // the current path and any being built
	peers   map[lokinet.Address]*peer
	ready   chan struct{}          // closed once the first path is up
	dirReqs map[PathID]chan []byte // directory requests awaiting replies
}

type clientPath struct {
	relays   []RelayInfo
	hops     []*hopKeys
	id       PathID // on the link from the node to the first relay
	first    netip.AddrPort
	tag      Tag
	built    chan struct{}
	once     sync.Once
	lastPong atomic.Int64 // unix nanoseconds
	rtt      atomic.Int64 // nanoseconds, last probe
}

type peer struct {
	addr   lokinet.Address
	key    []byte // x25519 public key
	xpub   *ecdh.PublicKey
	aead   cipher.AEAD
	relay  netip.AddrPort
	tag    Tag
	ready  bool
	ack    chan struct{} // closed by the next e2eAck
	lastRx time.Time
	lastTx time.Time
}

// NewEndpoint binds the endpoint's socket. Run builds paths and serves.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if len(cfg.Identity) != ed25519.PrivateKeySize {
		return nil, errors.New("onion: endpoint needs an ed25519 identity")
	}
	if cfg.Directory == nil {
		return nil, errors.New("onion: endpoint needs a directory")
	}
	if cfg.Listen == "" {
		cfg.Listen = "0.0.0.0:0"
	}
	if cfg.Hops <= 0 {
		cfg.Hops = DefaultHops
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = DefaultBuildTimeout
	}
	e := &Endpoint{
		cfg:     cfg,
		self:    lokinet.AddressFromKey(cfg.Identity.Public().(ed25519.PublicKey)),
		log:     cfg.Logger,
		start:   time.Now(),
		paths:   make(map[PathID]*clientPath),
		peers:   make(map[lokinet.Address]*peer),
		ready:   make(chan struct{}),
		dirReqs: make(map[PathID]chan []byte),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("onion: e2e key: %w", err)
	}
	e.xkey = x
	e.cert = ed25519.Sign(cfg.Identity, certBytes(x.PublicKey().Bytes()))
	ua, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("onion: endpoint listen %q: %w", cfg.Listen, err)
	}
	e.conn, err = net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("onion: endpoint listen: %w", err)
	}
	return e, nil
}

// Close releases the endpoint's socket without running it; Run also closes
// it when it returns.
func (e *Endpoint) Close() error { return e.conn.Close() }

// Address is the node's own address.
func (e *Endpoint) Address() lokinet.Address { return e.self }

// HasPath reports whether the endpoint has a working path.
func (e *Endpoint) HasPath() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.current != nil
}

// PathReady is closed once the first path is up.
func (e *Endpoint) PathReady() <-chan struct{} { return e.ready }

// PathRTT is the round trip to the introduction relay at the last probe,
// zero if there is no path.
func (e *Endpoint) PathRTT() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == nil {
		return 0
	}
	return time.Duration(e.current.rtt.Load())
}

// Path returns the relays of the current path, first hop first and
// introduction relay last, or nil if there is none.
func (e *Endpoint) Path() []netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == nil {
		return nil
	}
	out := make([]netip.AddrPort, len(e.current.relays))
	for i, r := range e.current.relays {
		out[i] = r.Addr
	}
	return out
}

// Ready reports whether a session with addr exists, so that packets to it
// can be sent at once.
func (e *Endpoint) Ready(addr lokinet.Address) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.peers[addr]
	return p != nil && p.ready
}

// Run builds the path, keeps it alive and receives until ctx is done; it
// then closes the socket and returns nil.
func (e *Endpoint) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		<-ctx.Done()
		e.conn.Close()
	})
	wg.Go(func() { e.maintain(ctx) })
	err := e.receive(ctx)
	cancel()
	wg.Wait()
	return err
}

// maintain builds a path, probes it and rebuilds it when it dies.
func (e *Endpoint) maintain(ctx context.Context) {
	var downSince time.Time    // when the previous path last answered
	var avoid []netip.AddrPort // relays of the path that died
	attempt := 0
	for ctx.Err() == nil {
		p, err := e.build(ctx, avoid)
		if err != nil {
			attempt++
			if ctx.Err() == nil {
				e.log.Warn("path build failed", "attempt", attempt, "err", err)
			}
			wait(ctx, min(time.Duration(attempt)*250*time.Millisecond, 2*time.Second))
			continue
		}
		if err := e.publish(ctx, p); err != nil {
			if ctx.Err() == nil {
				e.log.Warn("intro publish failed", "err", err)
			}
			e.dropPath(p)
			wait(ctx, 500*time.Millisecond)
			continue
		}
		attempt = 0
		e.mu.Lock()
		e.current = p
		select {
		case <-e.ready:
		default:
			close(e.ready)
		}
		e.mu.Unlock()
		relays := make([]string, len(p.relays))
		for i, r := range p.relays {
			relays[i] = r.Addr.String()
		}
		if downSince.IsZero() {
			e.log.Info("path built", "relays", relays, "intro", p.relays[len(p.relays)-1].Addr)
		} else {
			e.log.Info("path rebuilt", "relays", relays, "intro", p.relays[len(p.relays)-1].Addr,
				"outage_ms", time.Since(downSince).Milliseconds())
			e.reopenPeers(ctx)
		}
		last := e.probe(ctx, p)
		downSince = last
		avoid = e.Path()
		e.dropPath(p)
	}
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (e *Endpoint) dropPath(p *clientPath) {
	e.mu.Lock()
	delete(e.paths, p.id)
	if e.current == p {
		e.current = nil
	}
	e.mu.Unlock()
}

// probe pings p until it stops answering or ctx is done, and returns when
// it last answered.
func (e *Endpoint) probe(ctx context.Context, p *clientPath) time.Time {
	t := time.NewTicker(e.cfg.ProbeInterval)
	defer t.Stop()
	p.lastPong.Store(time.Now().UnixNano())
	for {
		select {
		case <-ctx.Done():
			return time.Unix(0, p.lastPong.Load())
		case <-t.C:
		}
		last := time.Unix(0, p.lastPong.Load())
		if silent := time.Since(last); silent > e.cfg.DeadAfter {
			e.log.Warn("path dead", "silent_ms", silent.Milliseconds(), "intro", p.relays[len(p.relays)-1].Addr)
			return last
		}
		seq := uint64(time.Since(e.start))
		if err := e.sendDown(p, seqMessage(cmdPing, seq)); err != nil {
			e.log.Debug("probe send failed", "err", err)
		}
	}
}

// build picks relays and builds a path through them. It avoids the relays
// in avoid, those of a path that just died, while enough others are listed:
// which of them died is unknown, and the directory may list a dead relay
// for a while.
func (e *Endpoint) build(ctx context.Context, avoid []netip.AddrPort) (*clientPath, error) {
	lctx, cancel := context.WithTimeout(ctx, e.cfg.BuildTimeout)
	defer cancel()
	relays, err := e.cfg.Directory.Relays(lctx)
	if err != nil {
		return nil, err
	}
	if len(relays) < e.cfg.Hops {
		return nil, fmt.Errorf("%w: %d listed, %d hops", ErrNotEnoughRelays, len(relays), e.cfg.Hops)
	}
	if fresh := slices.DeleteFunc(slices.Clone(relays), func(r RelayInfo) bool {
		return slices.Contains(avoid, r.Addr)
	}); len(fresh) >= e.cfg.Hops {
		relays = fresh
	}
	mrand.Shuffle(len(relays), func(i, j int) { relays[i], relays[j] = relays[j], relays[i] })
	relays = relays[:e.cfg.Hops]
	p := &clientPath{relays: relays, tag: Tag(randomID()), built: make(chan struct{}), first: relays[0].Addr}
	n := len(relays)
	ids := make([]PathID, n)
	ephs := make([][]byte, n)
	p.hops = make([]*hopKeys, n)
	for i, r := range relays {
		ids[i] = randomID()
		pub, err := ecdh.X25519().NewPublicKey(r.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: relay %s key: %w", ErrMalformed, r.Addr, err)
		}
		p.hops[i], ephs[i], err = nodeHop(pub)
		if err != nil {
			return nil, err
		}
	}
	p.id = ids[0]
	var sealed []byte
	for i := n - 1; i >= 0; i-- {
		rec := buildRecord{terminal: i == n-1, tag: p.tag, inner: sealed}
		if i < n-1 {
			rec.next, rec.nextID = relays[i+1].Addr, ids[i+1]
		}
		sealed = sealBuild(p.hops[i], ephs[i], randomNonce(), ids[i], rec)
	}
	e.mu.Lock()
	e.paths[p.id] = p
	e.mu.Unlock()
	if _, err := e.conn.WriteToUDPAddrPort(buildPacket(p.id, sealed), p.first); err != nil {
		e.dropPath(p)
		return nil, fmt.Errorf("onion: send build: %w", err)
	}
	select {
	case <-p.built:
		return p, nil
	case <-lctx.Done():
		e.dropPath(p)
		return nil, fmt.Errorf("%w: path build through %s", ErrTimeout, p.first)
	}
}

func (e *Endpoint) publish(ctx context.Context, p *clientPath) error {
	in := Intro{
		Relay:   p.relays[len(p.relays)-1].Addr,
		Tag:     p.tag,
		Key:     e.xkey.PublicKey().Bytes(),
		Expires: time.Now().Add(DefaultIntroLifetime).UTC(),
	}
	in.Sign(e.cfg.Identity)
	pctx, cancel := context.WithTimeout(ctx, e.cfg.BuildTimeout)
	defer cancel()
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("onion: publish: %w", err)
	}
	_, err = e.dirCall(pctx, p, dirPublish, b)
	return err
}

// lookup asks for addr's introduction through the current path.
func (e *Endpoint) lookup(ctx context.Context, addr lokinet.Address) (Intro, error) {
	e.mu.Lock()
	p := e.current
	e.mu.Unlock()
	if p == nil {
		return Intro{}, ErrNoPath
	}
	body, err := e.dirCall(ctx, p, dirLookup, []byte(addr.String()))
	if err != nil {
		return Intro{}, err
	}
	var in Intro
	if err := json.Unmarshal(body, &in); err != nil {
		return Intro{}, fmt.Errorf("%w: intro of %s: %w", ErrMalformed, addr, err)
	}
	if in.Address != addr.String() {
		return Intro{}, fmt.Errorf("%w: asked for %s, got intro of %s", ErrAuth, addr, in.Address)
	}
	if err := in.Verify(time.Now()); err != nil {
		return Intro{}, err
	}
	return in, nil
}

// dirCall has p's terminal relay perform a directory operation, so that the
// directory sees the relay and not the node, and waits for its reply.
func (e *Endpoint) dirCall(ctx context.Context, p *clientPath, op byte, body []byte) ([]byte, error) {
	id := randomID()
	ch := make(chan []byte, 1)
	e.mu.Lock()
	e.dirReqs[id] = ch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.dirReqs, id)
		e.mu.Unlock()
	}()
	msg := append(append(append([]byte{cmdDir}, id[:]...), op), body...)
	if err := e.sendDown(p, msg); err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: directory request through %s: %w", ErrTimeout, p.relays[len(p.relays)-1].Addr, ctx.Err())
	case reply := <-ch:
		switch reply[0] {
		case dirOK:
			return reply[1:], nil
		case dirNotFound:
			return nil, ErrUnknownAddress
		default:
			return nil, fmt.Errorf("onion: directory request through %s: %s", p.relays[len(p.relays)-1].Addr, reply[1:])
		}
	}
}

func (e *Endpoint) sendDown(p *clientPath, msg []byte) error {
	n := randomNonce()
	pkt := layered{typ: pktDown, id: p.id, nonce: n, body: sealDown(p.hops, n, msg)}.marshal()
	if _, err := e.conn.WriteToUDPAddrPort(pkt, p.first); err != nil {
		return fmt.Errorf("onion: send down: %w", err)
	}
	return nil
}

func (e *Endpoint) receive(ctx context.Context) error {
	buf := make([]byte, 65536)
	for {
		n, src, err := e.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("onion: endpoint read: %w", err)
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if err := e.handle(src, buf[:n]); err != nil {
			e.log.Debug("packet rejected", "from", src, "err", err)
		}
	}
}

func (e *Endpoint) handle(src netip.AddrPort, pkt []byte) error {
	lp, err := parseLayered(pkt)
	if err != nil {
		return err
	}
	if lp.typ != pktUp {
		return fmt.Errorf("%w: type %#x at endpoint", ErrMalformed, lp.typ)
	}
	e.mu.Lock()
	p := e.paths[lp.id]
	e.mu.Unlock()
	if p == nil || p.first != src {
		return fmt.Errorf("%w: %x from %s", errUnknownPath, lp.id, src)
	}
	msg, err := openUp(p.hops, lp.nonce, lp.body)
	if err != nil {
		return err
	}
	if len(msg) == 0 {
		return fmt.Errorf("%w: empty up message", ErrMalformed)
	}
	switch msg[0] {
	case upBuilt:
		p.once.Do(func() { close(p.built) })
	case upPong:
		if len(msg) < 9 {
			return fmt.Errorf("%w: short pong", ErrMalformed)
		}
		sent := time.Duration(binary.BigEndian.Uint64(msg[1:]))
		p.rtt.Store(int64(time.Since(e.start) - sent))
		p.lastPong.Store(time.Now().UnixNano())
	case upDeliver:
		return e.handleE2E(msg[1:])
	case upDir:
		if len(msg) < 2+idLen {
			return fmt.Errorf("%w: short directory reply", ErrMalformed)
		}
		var id PathID
		copy(id[:], msg[1:])
		e.mu.Lock()
		ch := e.dirReqs[id]
		e.mu.Unlock()
		if ch != nil {
			select {
			case ch <- msg[1+idLen:]:
			default:
			}
		}
	default:
		return fmt.Errorf("%w: up message %#x", ErrMalformed, msg[0])
	}
	return nil
}

// peerLocked returns the state for addr, creating it; e.mu must be held.
func (e *Endpoint) peerLocked(addr lokinet.Address) *peer {
	p := e.peers[addr]
	if p == nil {
		p = &peer{addr: addr}
		e.peers[addr] = p
	}
	return p
}

// setKeyLocked (re)derives the session key if the peer's x25519 key changed.
func (e *Endpoint) setKeyLocked(p *peer, x []byte) error {
	if p.aead != nil && bytes.Equal(p.key, x) {
		return nil
	}
	pub, err := ecdh.X25519().NewPublicKey(x)
	if err != nil {
		return fmt.Errorf("%w: peer key: %w", ErrMalformed, err)
	}
	aead, err := e2eKey(e.xkey, pub)
	if err != nil {
		return err
	}
	p.key, p.xpub, p.aead = append([]byte{}, x...), pub, aead
	return nil
}

func (e *Endpoint) handleE2E(wrapped []byte) error {
	frame, err := unwrapE2E(e.xkey, wrapped)
	if err != nil {
		return err
	}
	f, err := parseE2EFrame(frame)
	if err != nil {
		return err
	}
	e.mu.Lock()
	p := e.peers[f.from]
	known := p != nil && p.aead != nil && bytes.Equal(p.key, f.x)
	e.mu.Unlock()
	if !known {
		if err := f.verifyCert(); err != nil {
			return err
		}
	}
	e.mu.Lock()
	p = e.peerLocked(f.from)
	if err := e.setKeyLocked(p, f.x); err != nil {
		e.mu.Unlock()
		return err
	}
	aead := p.aead
	e.mu.Unlock()
	pt, err := aead.Open(nil, f.nonce, f.ct, f.ad)
	if err != nil {
		return fmt.Errorf("%w: e2e from %s", ErrAuth, f.from)
	}
	m, err := parseE2E(pt)
	if err != nil {
		return err
	}
	now := time.Now()
	e.mu.Lock()
	if p.relay != m.relay || p.tag != m.tag {
		if p.relay.IsValid() {
			e.log.Info("peer intro changed", "peer", f.from, "intro", m.relay)
		}
		p.relay, p.tag = m.relay, m.tag
	}
	p.ready = true
	if !p.lastRx.IsZero() && now.Sub(p.lastRx) > gapReport {
		e.log.Info("traffic from peer resumed", "peer", f.from, "gap_ms", now.Sub(p.lastRx).Milliseconds())
	}
	p.lastRx = now
	if m.typ == e2eAck && p.ack != nil {
		close(p.ack)
		p.ack = nil
	}
	e.mu.Unlock()
	switch m.typ {
	case e2eOpen:
		return e.sendE2E(f.from, e2eAck, nil)
	case e2eAck:
	case e2eData:
		if e.cfg.Handler != nil {
			e.cfg.Handler(f.from, m.body)
		}
	default:
		return fmt.Errorf("%w: e2e type %#x", ErrMalformed, m.typ)
	}
	return nil
}

// Send sends an IP packet to addr, with which a session must exist (Open,
// or a packet received from it). Like IP, it does not wait or retry.
func (e *Endpoint) Send(addr lokinet.Address, pkt []byte) error {
	return e.sendE2E(addr, e2eData, pkt)
}

func (e *Endpoint) sendE2E(addr lokinet.Address, typ byte, body []byte) error {
	e.mu.Lock()
	path := e.current
	p := e.peers[addr]
	if path == nil {
		e.mu.Unlock()
		return ErrNoPath
	}
	if p == nil || p.aead == nil || !p.relay.IsValid() {
		e.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSession, addr)
	}
	p.lastTx = time.Now()
	aead, xpub, relay, tag := p.aead, p.xpub, p.relay, p.tag
	e.mu.Unlock()
	msg := e2eMessage{typ: typ, relay: path.relays[len(path.relays)-1].Addr, tag: path.tag, body: body}
	frame := sealE2E(e.cfg.Identity, e.xkey.PublicKey().Bytes(), e.cert, aead, msg.marshal())
	wrapped, err := wrapE2E(xpub, frame)
	if err != nil {
		return err
	}
	return e.sendDown(path, sendCommand(relay, tag, wrapped))
}

// Open makes sure a session with addr exists: it looks up addr's
// introduction and exchanges an open/ack with it through the network,
// retrying until ctx is done. It returns an error wrapping
// ErrUnknownAddress if the directory does not know addr.
func (e *Endpoint) Open(ctx context.Context, addr lokinet.Address) error {
	if e.Ready(addr) {
		return nil
	}
	return e.handshake(ctx, addr)
}

func (e *Endpoint) handshake(ctx context.Context, addr lokinet.Address) error {
	for try := 1; ; try++ {
		lctx, cancel := context.WithTimeout(ctx, e.cfg.BuildTimeout)
		in, err := e.lookup(lctx, addr)
		cancel()
		switch {
		case errors.Is(err, ErrUnknownAddress):
			return fmt.Errorf("%w: %s", err, addr)
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("%w: session with %s: %w", ErrTimeout, addr, err)
		case err != nil:
			// No path at the moment, or the request was lost with it.
			e.log.Debug("lookup failed, retrying", "peer", addr, "err", err)
			wait(ctx, 250*time.Millisecond)
			continue
		}
		ack := make(chan struct{})
		e.mu.Lock()
		p := e.peerLocked(addr)
		if err := e.setKeyLocked(p, in.Key); err != nil {
			e.mu.Unlock()
			return err
		}
		p.relay, p.tag = in.Relay, in.Tag
		p.ack = ack
		e.mu.Unlock()
		if err := e.sendE2E(addr, e2eOpen, nil); err != nil && !errors.Is(err, ErrNoPath) {
			return err
		}
		t := time.NewTimer(time.Duration(try) * time.Second)
		select {
		case <-ack:
			t.Stop()
			return nil
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: session with %s: %w", ErrTimeout, addr, ctx.Err())
		case <-t.C:
		}
	}
}

// reopenPeers tells recently active peers about the new path, looking up
// their introductions again in case theirs changed too.
func (e *Endpoint) reopenPeers(ctx context.Context) {
	cutoff := time.Now().Add(-reopenWindow)
	e.mu.Lock()
	var active []lokinet.Address
	for a, p := range e.peers {
		if p.lastRx.After(cutoff) || p.lastTx.After(cutoff) {
			active = append(active, a)
		}
	}
	e.mu.Unlock()
	for _, a := range active {
		go func() {
			hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := e.handshake(hctx, a); err != nil && ctx.Err() == nil {
				e.log.Warn("reopen session failed", "peer", a, "err", err)
			}
		}()
	}
}
