package onion

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
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

// DefaultHopTimeout is how long a relay keeps a path that carries no packets.
// Nodes probe their paths several times a second, so only abandoned paths
// reach it.
const DefaultHopTimeout = 10 * time.Second

// RelayConfig configures a Relay. Nil and zero fields mean harmless defaults.
type RelayConfig struct {
	// Key is the relay's x25519 identity; a fresh one if nil.
	Key *ecdh.PrivateKey
	// Listen is the UDP address to receive on; "0.0.0.0:1090" if empty.
	Listen string
	// Advertise is the address registered with the directory; if invalid,
	// the local address used to reach the directory with Listen's port.
	Advertise netip.AddrPort
	// Directory is where the relay registers; it does not register if nil.
	Directory *DirectoryClient
	// Heartbeat is the registration interval; DefaultHeartbeat if zero.
	Heartbeat time.Duration
	// Link is the emulation applied to every packet the relay sends.
	Link LinkConfig
	// HopTimeout is how long an idle path is kept; DefaultHopTimeout if zero.
	HopTimeout time.Duration
	// Logger receives the relay's log; none if nil.
	Logger *slog.Logger
}

// Relay forwards onion packets between nodes and other relays.
type Relay struct {
	cfg  RelayConfig
	key  *ecdh.PrivateKey
	conn *net.UDPConn
	addr netip.AddrPort
	link *link
	log  *slog.Logger

	mu    sync.Mutex
	down  map[PathID]*relayHop // by the ID on the link from the previous hop
	up    map[PathID]*relayHop // by the ID on the link to the next hop
	intro map[Tag]*relayHop    // terminal hops by introduction tag

	forwarded, dropped, rejected atomic.Uint64

	// tap, if set before Run, sees every packet the relay receives and
	// every plaintext it decrypts: what a curious relay could look at.
	tap func(b []byte)
}

type relayHop struct {
	keys     *hopKeys
	prev     netip.AddrPort
	prevID   PathID
	next     netip.AddrPort
	nextID   PathID
	terminal bool
	tag      Tag
	used     atomic.Int64 // unix nanoseconds of the last packet
}

// NewRelay binds the relay's socket. Run starts it.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	r := &Relay{
		cfg:   cfg,
		key:   cfg.Key,
		link:  newLink(cfg.Link),
		log:   cfg.Logger,
		down:  make(map[PathID]*relayHop),
		up:    make(map[PathID]*relayHop),
		intro: make(map[Tag]*relayHop),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.cfg.Listen == "" {
		r.cfg.Listen = "0.0.0.0:1090"
	}
	if r.cfg.Heartbeat <= 0 {
		r.cfg.Heartbeat = DefaultHeartbeat
	}
	if r.cfg.HopTimeout <= 0 {
		r.cfg.HopTimeout = DefaultHopTimeout
	}
	if r.key == nil {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("onion: relay key: %w", err)
		}
		r.key = k
	}
	ua, err := net.ResolveUDPAddr("udp", r.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("onion: relay listen %q: %w", r.cfg.Listen, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("onion: relay listen: %w", err)
	}
	r.conn = conn
	r.addr = cfg.Advertise
	if !r.addr.IsValid() {
		r.addr, err = advertiseAddr(conn, cfg.Directory)
		if err != nil {
			conn.Close()
			return nil, err
		}
	}
	return r, nil
}

// advertiseAddr picks the address others should use to reach conn: its own
// if bound to a specific IP, else the source address the kernel would use to
// reach the directory.
func advertiseAddr(conn *net.UDPConn, dir *DirectoryClient) (netip.AddrPort, error) {
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if !local.Addr().IsUnspecified() {
		return local, nil
	}
	if dir == nil {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), local.Port()), nil
	}
	host, err := hostPort(dir.URL)
	if err != nil {
		return netip.AddrPort{}, err
	}
	c, err := net.Dial("udp", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("onion: find own address towards %s: %w", host, err)
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	return netip.AddrPortFrom(ip, local.Port()), nil
}

// Addr is the relay's advertised address.
func (r *Relay) Addr() netip.AddrPort { return r.addr }

// Info is the relay as the directory lists it.
func (r *Relay) Info() RelayInfo { return RelayInfo{Key: r.key.PublicKey().Bytes(), Addr: r.addr} }

// Run forwards packets and beats to the directory until ctx is done, then
// closes the socket. It returns nil on cancellation.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		<-ctx.Done()
		r.conn.Close()
	})
	if r.cfg.Directory != nil {
		wg.Go(func() { r.heartbeat(ctx) })
	}
	wg.Go(func() { r.sweep(ctx) })
	if r.cfg.Link.LossModel == LossGilbert {
		g := r.cfg.Link.GE
		r.log.Info("relay running", "addr", r.addr, "delay", r.cfg.Link.Delay, "jitter", r.cfg.Link.Jitter,
			"loss_model", LossGilbert, "ge_p", g.P, "ge_r", g.R, "ge_loss_good", g.LossGood, "ge_loss_bad", g.LossBad,
			"mean_loss", g.MeanLoss(), "mean_burst", g.MeanBadRun())
	} else {
		r.log.Info("relay running", "addr", r.addr, "delay", r.cfg.Link.Delay, "jitter", r.cfg.Link.Jitter, "loss", r.cfg.Link.Loss)
	}
	buf := make([]byte, 65536)
	var err error
	for {
		n, src, rerr := r.conn.ReadFromUDPAddrPort(buf)
		if rerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("onion: relay read: %w", rerr)
			}
			break
		}
		pkt := make([]byte, n)
		copy(pkt, buf[:n])
		if herr := r.handle(netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), pkt); herr != nil {
			r.rejected.Add(1)
			r.log.Debug("packet rejected", "from", src, "err", herr)
		}
	}
	cancel()
	wg.Wait()
	r.log.Info("relay stopped", "forwarded", r.forwarded.Load(), "dropped", r.dropped.Load(), "rejected", r.rejected.Load())
	return err
}

func (r *Relay) heartbeat(ctx context.Context) {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	failing := false
	for {
		hctx, cancel := context.WithTimeout(ctx, r.cfg.Heartbeat*3)
		err := r.cfg.Directory.Heartbeat(hctx, r.Info())
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			r.log.Warn("heartbeat failed", "err", err)
			failing = true
		case err == nil && failing:
			r.log.Info("heartbeat ok again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Relay) sweep(ctx context.Context) {
	t := time.NewTicker(r.cfg.HopTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-r.cfg.HopTimeout).UnixNano()
		r.mu.Lock()
		for id, h := range r.down {
			if h.used.Load() < cutoff {
				delete(r.down, id)
				if !h.terminal {
					delete(r.up, h.nextID)
				} else {
					delete(r.intro, h.tag)
				}
			}
		}
		r.mu.Unlock()
	}
}

// send emits pkt to dst through the emulated link.
func (r *Relay) send(dst netip.AddrPort, pkt []byte) {
	if r.link.send(func() { _, _ = r.conn.WriteToUDPAddrPort(pkt, dst) }) {
		r.dropped.Add(1)
		return
	}
	r.forwarded.Add(1)
}

var errUnknownPath = errors.New("onion: unknown path")

func (r *Relay) handle(src netip.AddrPort, pkt []byte) error {
	if r.tap != nil {
		r.tap(pkt)
	}
	if len(pkt) < 1+idLen {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(pkt))
	}
	switch pkt[0] {
	case pktBuild:
		return r.handleBuild(src, pkt)
	case pktDown:
		return r.handleDown(src, pkt)
	case pktUp:
		return r.handleUp(src, pkt)
	case pktIntro:
		var tag Tag
		copy(tag[:], pkt[1:])
		r.mu.Lock()
		h := r.intro[tag]
		r.mu.Unlock()
		if h == nil {
			return fmt.Errorf("%w: intro tag %x", errUnknownPath, tag)
		}
		r.sendUp(h, append([]byte{upDeliver}, pkt[1+idLen:]...))
		return nil
	default:
		return fmt.Errorf("%w: type %#x", ErrMalformed, pkt[0])
	}
}

func (r *Relay) handleBuild(src netip.AddrPort, pkt []byte) error {
	var id PathID
	copy(id[:], pkt[1:])
	sealed := pkt[1+idLen:]
	if len(sealed) < pubLen+NonceSize+Overhead {
		return fmt.Errorf("%w: short build", ErrMalformed)
	}
	keys, err := relayHopKeys(r.key, sealed[:pubLen])
	if err != nil {
		return err
	}
	body, err := keys.build.Open(nil, sealed[pubLen:pubLen+NonceSize], sealed[pubLen+NonceSize:], id[:])
	if err != nil {
		return fmt.Errorf("%w: build record", ErrAuth)
	}
	if r.tap != nil {
		r.tap(body)
	}
	rec, err := parseBuildRecord(body)
	if err != nil {
		return err
	}
	h := &relayHop{keys: keys, prev: src, prevID: id, next: rec.next, nextID: rec.nextID, terminal: rec.terminal, tag: rec.tag}
	h.used.Store(time.Now().UnixNano())
	r.mu.Lock()
	r.down[id] = h
	if h.terminal {
		r.intro[h.tag] = h
	} else {
		r.up[h.nextID] = h
	}
	r.mu.Unlock()
	if h.terminal {
		r.sendUp(h, []byte{upBuilt})
		return nil
	}
	r.send(h.next, buildPacket(h.nextID, rec.inner))
	return nil
}

func (r *Relay) handleDown(src netip.AddrPort, pkt []byte) error {
	p, err := parseLayered(pkt)
	if err != nil {
		return err
	}
	r.mu.Lock()
	h := r.down[p.id]
	r.mu.Unlock()
	if h == nil || h.prev != src {
		return fmt.Errorf("%w: down %x from %s", errUnknownPath, p.id, src)
	}
	h.used.Store(time.Now().UnixNano())
	pt, err := h.keys.down.Open(nil, p.nonce[:], p.body, nil)
	if err != nil {
		return fmt.Errorf("%w: down layer", ErrAuth)
	}
	if r.tap != nil {
		r.tap(pt)
	}
	if !h.terminal {
		r.send(h.next, layered{typ: pktDown, id: h.nextID, nonce: p.nonce.xor(h.keys.xor), body: pt}.marshal())
		return nil
	}
	return r.command(h, pt)
}

// command carries out what a node asked of its path's terminal relay.
func (r *Relay) command(h *relayHop, msg []byte) error {
	if len(msg) < 1 {
		return fmt.Errorf("%w: empty command", ErrMalformed)
	}
	switch msg[0] {
	case cmdPing:
		if len(msg) < 9 {
			return fmt.Errorf("%w: short ping", ErrMalformed)
		}
		r.sendUp(h, append([]byte{upPong}, msg[1:9]...))
		return nil
	case cmdSend:
		dst, rest, err := readAddrPort(msg[1:])
		if err != nil {
			return err
		}
		if len(rest) < idLen {
			return fmt.Errorf("%w: short send", ErrMalformed)
		}
		var tag Tag
		copy(tag[:], rest)
		r.send(dst, introPacket(tag, rest[idLen:]))
		return nil
	case cmdDir:
		if len(msg) < 2+idLen {
			return fmt.Errorf("%w: short directory request", ErrMalformed)
		}
		req := append([]byte{upDir}, msg[1:1+idLen]...)
		op, body := msg[1+idLen], msg[2+idLen:]
		go func() { r.sendUp(h, append(req, r.directory(op, body)...)) }()
		return nil
	default:
		return fmt.Errorf("%w: command %#x", ErrMalformed, msg[0])
	}
}

// directory performs a directory operation for a node and returns the
// status and body of the reply.
func (r *Relay) directory(op byte, body []byte) []byte {
	fail := func(err error) []byte { return append([]byte{dirFailed}, err.Error()...) }
	if r.cfg.Directory == nil {
		return fail(errors.New("relay has no directory"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch op {
	case dirLookup:
		addr, err := lokinet.ParseAddress(string(body))
		if err != nil {
			return fail(err)
		}
		in, err := r.cfg.Directory.Lookup(ctx, addr)
		if errors.Is(err, ErrUnknownAddress) {
			return []byte{dirNotFound}
		}
		if err != nil {
			return fail(err)
		}
		b, err := json.Marshal(in)
		if err != nil {
			return fail(err)
		}
		return append([]byte{dirOK}, b...)
	case dirPublish:
		var in Intro
		if err := json.Unmarshal(body, &in); err != nil {
			return fail(err)
		}
		if err := r.cfg.Directory.Publish(ctx, in); err != nil {
			return fail(err)
		}
		return []byte{dirOK}
	default:
		return fail(fmt.Errorf("unknown directory operation %#x", op))
	}
}

// sendUp originates msg at h, which must be terminal, towards the node.
func (r *Relay) sendUp(h *relayHop, msg []byte) {
	h.used.Store(time.Now().UnixNano())
	n := randomNonce()
	ct := h.keys.up.Seal(nil, n[:], msg, nil)
	r.send(h.prev, layered{typ: pktUp, id: h.prevID, nonce: n, body: ct}.marshal())
}

func (r *Relay) handleUp(src netip.AddrPort, pkt []byte) error {
	p, err := parseLayered(pkt)
	if err != nil {
		return err
	}
	r.mu.Lock()
	h := r.up[p.id]
	r.mu.Unlock()
	if h == nil || h.next != src {
		return fmt.Errorf("%w: up %x from %s", errUnknownPath, p.id, src)
	}
	h.used.Store(time.Now().UnixNano())
	n := p.nonce.xor(h.keys.xor)
	ct := h.keys.up.Seal(nil, n[:], p.body, nil)
	r.send(h.prev, layered{typ: pktUp, id: h.prevID, nonce: n, body: ct}.marshal())
	return nil
}
