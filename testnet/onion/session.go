package onion

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// peer is this node's end-to-end session state with another node.
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

	// Lokinet's view of sessions (swap.go): outbound if this node opened
	// a session by looking the peer up (at openedAt), inbound if the peer
	// said it did the same; a session pair is replaced periodically.
	outbound bool
	openedAt time.Time
	inbound  bool
	swap     *swapState

	// checked is when the session last heard from the peer or looked it up
	// again; refreshing while a lookup is under way.
	checked    time.Time
	refreshing bool
}

// staleAfter is how long a node sends to a peer without hearing from it
// before it looks the peer up again: the peer may have a new path (after a
// restart, say) that only a fresh introduction reveals.
const staleAfter = 5 * time.Second

// openFlagOutbound in an e2eOpen's body says that the sender holds an
// outbound session to the receiver (it looked the receiver up).
const openFlagOutbound byte = 0x01

// peerLocked returns the state for addr, creating it; e.mu must be held.
// With SwapForce a new peer is a session pair from the start.
func (e *Endpoint) peerLocked(addr lokinet.Address) *peer {
	p := e.peers[addr]
	if p == nil {
		p = &peer{addr: addr}
		if e.swap.cfg.Mode == SwapForce {
			p.outbound, p.inbound, p.openedAt = true, true, time.Now()
		}
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
	if p.checked.IsZero() {
		p.checked = time.Now()
	}
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
	if m.typ == e2eOpen && len(m.body) > 0 && m.body[0]&openFlagOutbound != 0 && !p.inbound {
		p.inbound = true
		e.log.Info("peer holds a session to this node", "peer", f.from)
	}
	e.startSwapsLocked(p)
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
	return e.sendE2EMaybeHeld(addr, typ, body, true)
}

// sendE2EUnheld sends past a stall: for the packets a stall held.
func (e *Endpoint) sendE2EUnheld(addr lokinet.Address, typ byte, body []byte) error {
	return e.sendE2EMaybeHeld(addr, typ, body, false)
}

// sendE2EMaybeHeld seals and sends one end-to-end message. Data may be
// held by a session replacement (if hold) and is delayed or dropped by the
// trace replay, if any.
func (e *Endpoint) sendE2EMaybeHeld(addr lokinet.Address, typ byte, body []byte, hold bool) error {
	now := time.Now()
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
	p.lastTx = now
	if typ == e2eData && !p.refreshing && now.Sub(latest(p.lastRx, p.checked)) > staleAfter {
		p.refreshing, p.checked = true, now
		go e.refresh(addr)
	}
	if hold && typ == e2eData && e.holdLocked(p, body, now) {
		e.mu.Unlock()
		return nil
	}
	aead, xpub, relay, tag := p.aead, p.xpub, p.relay, p.tag
	e.mu.Unlock()
	msg := e2eMessage{typ: typ, relay: path.relays[len(path.relays)-1].Addr, tag: path.tag, body: body}
	frame := sealE2E(e.cfg.Identity, e.xkey.PublicKey().Bytes(), e.cert, aead, msg.marshal())
	wrapped, err := wrapE2E(xpub, frame)
	if err != nil {
		return err
	}
	cmd := sendCommand(relay, tag, wrapped)
	if e.replay == nil || typ != e2eData {
		return e.sendDown(path, cmd)
	}
	d, ok := e.replay.schedule(now)
	switch {
	case !ok:
		return nil // lost, as the trace's probe was
	case d <= 0:
		return e.sendDown(path, cmd)
	}
	time.AfterFunc(d, func() {
		if err := e.sendDown(path, cmd); err != nil {
			e.log.Debug("delayed send failed", "peer", addr, "err", err)
		}
	})
	return nil
}

// Open makes sure a session with addr exists: it looks up addr's
// introduction and exchanges an open/ack with it through the network,
// retrying until ctx is done. It returns an error wrapping
// ErrUnknownAddress if the directory does not know addr.
//
// As in Lokinet, a lookup opens an outbound session only when no session
// exists: one answered from an incoming session opens none.
func (e *Endpoint) Open(ctx context.Context, addr lokinet.Address) error {
	if e.Ready(addr) {
		return nil
	}
	if err := e.handshake(ctx, addr, true); err != nil {
		return err
	}
	e.mu.Lock()
	if p := e.peers[addr]; p != nil && p.openedAt.IsZero() {
		p.openedAt = time.Now()
		e.startSwapsLocked(p)
	}
	e.mu.Unlock()
	return nil
}

// handshake looks addr up and exchanges an open/ack with it. With
// outbound, this node holds an outbound session to addr from now on; the
// open tells the peer whether it does.
func (e *Endpoint) handshake(ctx context.Context, addr lokinet.Address, outbound bool) error {
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
		if p.checked.IsZero() {
			p.checked = time.Now()
		}
		if outbound {
			p.outbound = true
		}
		var flags byte
		if p.outbound {
			flags |= openFlagOutbound
		}
		e.mu.Unlock()
		if err := e.sendE2E(addr, e2eOpen, []byte{flags}); err != nil && !errors.Is(err, ErrNoPath) {
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

// refresh looks up a peer that has not been heard from for a while and
// exchanges an open/ack through its current introduction.
func (e *Endpoint) refresh(addr lokinet.Address) {
	e.mu.Lock()
	parent := e.runCtx
	e.mu.Unlock()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, 2*e.cfg.BuildTimeout)
	defer cancel()
	err := e.handshake(ctx, addr, false)
	e.mu.Lock()
	if p := e.peers[addr]; p != nil {
		p.refreshing, p.checked = false, time.Now()
	}
	stopped := e.stopped
	e.mu.Unlock()
	if err != nil && !stopped {
		e.log.Info("silent peer not reached", "peer", addr, "err", err)
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
			if err := e.handshake(hctx, a, false); err != nil && ctx.Err() == nil {
				e.log.Warn("reopen session failed", "peer", a, "err", err)
			}
		}()
	}
}
