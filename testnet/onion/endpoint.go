package onion

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
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
	// DefaultPathLifetime is Lokinet's path lifetime, after which a path
	// is replaced by a new one.
	DefaultPathLifetime = 10 * time.Minute
	// oldPathGrace is how long an expired path still delivers packets
	// after its replacement is up, for peers that have not yet learnt the
	// new introduction.
	oldPathGrace = 5 * time.Second
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
	// PathLifetime is the age at which a path is replaced by a new one
	// (built before the old one is dropped); zero: paths live until they
	// die.
	PathLifetime time.Duration
	// Swap configures Lokinet's half-open session replacement; off if
	// zero.
	Swap SwapConfig
	// Trace, if not nil, is replayed on the data this node sends: each
	// packet is delayed or dropped as the probe sent at the same time
	// since the endpoint started.
	Trace *Trace
	// Impair, if not nil, drops the endpoint's traffic while it says so.
	Impair *Impairment
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

	swap   *swapper
	replay *traceReplay
	swaps  atomic.Int64
	pstats pathCounters

	mu      sync.Mutex
	runCtx  context.Context // Run's, for work started outside it
	stopped bool            // Run has returned: no more timers
	current *clientPath
	paths   map[PathID]*clientPath // the current path and any being built
	peers   map[lokinet.Address]*peer
	ready   chan struct{}          // closed once the first path is up
	dirReqs map[PathID]chan []byte // directory requests awaiting replies
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
	e.swap = newSwapper(cfg.Swap)
	if cfg.Trace != nil {
		e.replay = &traceReplay{trace: cfg.Trace, start: e.start}
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
	e.mu.Lock()
	e.runCtx = ctx
	e.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		<-ctx.Done()
		e.conn.Close()
	})
	wg.Go(func() { e.maintain(ctx) })
	err := e.receive(ctx)
	cancel()
	wg.Wait()
	e.mu.Lock()
	e.stopSwapsLocked()
	e.mu.Unlock()
	return err
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
		if e.cfg.Impair.Drop() {
			continue
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
