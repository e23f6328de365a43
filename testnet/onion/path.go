package onion

import (
	"context"
	"crypto/ecdh"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

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
	builtAt  time.Time    // set once, before the path becomes current
}

// pathCounters counts the endpoint's path events.
type pathCounters struct {
	built, rebuilt, expired atomic.Int64
}

// maintain builds a path, probes it, rebuilds it when it dies and replaces
// it when it expires.
func (e *Endpoint) maintain(ctx context.Context) {
	var downSince time.Time    // when the previous path last answered
	var avoid []netip.AddrPort // relays of the path that died
	var old *clientPath        // an expired path, in use until its successor is up
	attempt := 0
	for ctx.Err() == nil {
		e.waitCut(ctx)
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
		p.builtAt = time.Now()
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
		intro := p.relays[len(p.relays)-1].Addr
		switch {
		case old != nil:
			e.pstats.expired.Add(1)
			e.log.Info("path replaced", "relays", relays, "intro", intro, "old_age_s", int(time.Since(old.builtAt).Seconds()))
			e.reopenPeers(ctx)
			// Peers keep sending to the old introduction until they
			// hear from this node through the new one.
			retired := old
			time.AfterFunc(oldPathGrace, func() { e.dropPath(retired) })
		case downSince.IsZero():
			e.pstats.built.Add(1)
			e.log.Info("path built", "relays", relays, "intro", intro)
		default:
			e.pstats.rebuilt.Add(1)
			e.log.Info("path rebuilt", "relays", relays, "intro", intro,
				"outage_ms", time.Since(downSince).Milliseconds())
			e.reopenPeers(ctx)
		}
		old = nil
		last, expired := e.probe(ctx, p)
		if expired {
			old, avoid = p, nil
			continue
		}
		downSince = last
		avoid = e.Path()
		e.dropPath(p)
	}
}

// waitCut returns once no cut is imposed on the endpoint: no path can be
// built through a cut, and the node tries again as soon as it ends.
func (e *Endpoint) waitCut(ctx context.Context) {
	for ctx.Err() == nil {
		left := time.Until(e.cfg.Impair.CutUntil())
		if left <= 0 {
			return
		}
		wait(ctx, left)
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

// probe pings p until it stops answering, it reaches the end of its
// lifetime (expired) or ctx is done, and returns when it last answered.
func (e *Endpoint) probe(ctx context.Context, p *clientPath) (last time.Time, expired bool) {
	t := time.NewTicker(e.cfg.ProbeInterval)
	defer t.Stop()
	p.lastPong.Store(time.Now().UnixNano())
	for {
		select {
		case <-ctx.Done():
			return time.Unix(0, p.lastPong.Load()), false
		case <-t.C:
		}
		last := time.Unix(0, p.lastPong.Load())
		if silent := time.Since(last); silent > e.cfg.DeadAfter {
			e.log.Warn("path dead", "silent_ms", silent.Milliseconds(), "intro", p.relays[len(p.relays)-1].Addr)
			return last, false
		}
		if lt := e.cfg.PathLifetime; lt > 0 && time.Since(p.builtAt) >= lt {
			e.log.Info("path expired", "age_s", int(time.Since(p.builtAt).Seconds()), "intro", p.relays[len(p.relays)-1].Addr)
			return last, true
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
	if e.cfg.Impair.Drop() {
		return nil // lost on the way, as far as the sender can tell
	}
	n := randomNonce()
	pkt := layered{typ: pktDown, id: p.id, nonce: n, body: sealDown(p.hops, n, msg)}.marshal()
	if _, err := e.conn.WriteToUDPAddrPort(pkt, p.first); err != nil {
		return fmt.Errorf("onion: send down: %w", err)
	}
	return nil
}
