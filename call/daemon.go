package call

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

// Progress reasons of a Lokinet daemon restart during a call (Event.Reason
// of EventProgress events).
const (
	// ProgressLokinetDown: Lokinet's interface went away (the daemon
	// stopped); the call waits for it.
	ProgressLokinetDown = "lokinet-down"
	// ProgressLokinetBack: the interface and Lokinet's DNS are back; the
	// call rebuilds its media path on the node's address.
	ProgressLokinetBack = "lokinet-back"
)

// ErrLokinetRestarted reports a call whose Lokinet daemon went away (on
// either side) and whose audio did not come back within the media timeout.
// It matches ErrMediaLost.
var ErrLokinetRestarted = fmt.Errorf("%w: Lokinet restarted", ErrMediaLost)

// lokinetLead is how much sooner than the media timeout a side whose Lokinet
// went away gives up: its hangup, with the reason lokinet-restarted, then
// reaches the peer before the peer gives up on its own with media-lost.
const lokinetLead = time.Second

// rediscoverEvery spaces the lookups of the node once Lokinet's interface
// is back, until its DNS answers.
const rediscoverEvery = 500 * time.Millisecond

// daemonWatch is what the session knows of its Lokinet daemon; part of
// callState.
type daemonWatch struct {
	// ctx ends with the session; it bounds the watcher and the lookups.
	ctx context.Context
	// states carries the interface's states; nil when not watched.
	states <-chan lokinet.InterfaceState
	// prefix is the interface's address as last seen up.
	prefix netip.Prefix
	// down: the interface is away.
	down bool
	// restarted: the daemon went away during the current interruption
	// (or since audio last flowed); it names the end if audio does not
	// come back.
	restarted bool
	// rediscovering: a lookup of the node runs; it reports on
	// session.rediscovered.
	rediscovering bool
}

// rediscovery is the node as found again after Lokinet came back.
type rediscovery struct {
	node lokinet.Node
	err  error
}

// watchLokinet starts following Lokinet's interface. A call whose node has
// no interface (none is known), or whose interface is not up as the call
// starts, is not watched: there is nothing to tell a restart by.
func (s *session) watchLokinet(ctx context.Context) {
	w := &s.loop.lokinet
	w.ctx = ctx
	name := s.cfg.Node.Interface
	if name == "" {
		return
	}
	states, err := s.cfg.watchLokinet(ctx, name)
	if err != nil {
		s.log.Warn("cannot watch Lokinet's interface; a daemon restart will look like an outage", "interface", name, "err", err)
		return
	}
	select {
	case st, ok := <-states:
		if !ok || !st.Up {
			s.log.Warn("Lokinet's interface is not up; not watching it", "interface", name)
			return
		}
		w.prefix = st.Prefix
	case <-ctx.Done():
		return
	}
	w.states = states
}

// watchLokinet follows Lokinet's interface called name with the
// WatchLokinet hook, lokinet.WatchInterface by default.
func (c *Config) watchLokinet(ctx context.Context, name string) (<-chan lokinet.InterfaceState, error) {
	if c.WatchLokinet != nil {
		return c.WatchLokinet(ctx, name)
	}
	return lokinet.WatchInterface(ctx, name)
}

// onLokinet: Lokinet's interface went away, came back or changed address.
func (s *session) onLokinet(st lokinet.InterfaceState, ok bool) {
	w := &s.loop.lokinet
	if !ok {
		w.states = nil
		return
	}
	node := s.localNode()
	switch {
	case !st.Up && !w.down:
		w.down, w.restarted = true, true
		s.log.Warn("Lokinet's interface went away; waiting for the daemon", "interface", node.Interface)
		s.emit.emit(Event{Kind: EventProgress, CallID: s.callID, Peer: s.peer.String(), Reason: ProgressLokinetDown,
			Message: fmt.Sprintf("Lokinet's interface %s went away (the daemon stopped); waiting for it for up to %v",
				node.Interface, s.cfg.mediaTimeout())})
	case st.Up && (w.down || st.Prefix != w.prefix):
		// Back, or back so quickly that only the address changed.
		w.down, w.restarted, w.prefix = false, true, st.Prefix
		s.log.Info("Lokinet's interface is back", "interface", node.Interface, "prefix", st.Prefix)
		s.rediscover()
	}
}

// rediscover looks the node up again (its address and range from Lokinet's
// DNS, which comes back after the interface), retrying until it answers or
// the call ends; the result comes on session.rediscovered.
func (s *session) rediscover() {
	w := &s.loop.lokinet
	if w.rediscovering {
		return
	}
	w.rediscovering = true
	ctx, name := w.ctx, s.localNode().Interface
	go func() {
		node, err := awaitNode(ctx, s.cfg.Resolver, name, s.log)
		select {
		case s.rediscovered <- rediscovery{node: node, err: err}:
		case <-ctx.Done():
		}
	}()
}

// awaitNode looks the node up on the interface called name (its address
// and range from Lokinet's DNS, which comes back after the interface),
// again every rediscoverEvery until it answers or ctx ends.
func awaitNode(ctx context.Context, r *lokinet.Resolver, name string, log *slog.Logger) (lokinet.Node, error) {
	for {
		node, err := lokinet.Discover(ctx, r, lokinet.DiscoverOptions{Interface: name})
		if err == nil || ctx.Err() != nil {
			return node, err
		}
		log.Debug("Lokinet not answering yet", "err", err)
		select {
		case <-time.After(rediscoverEvery):
		case <-ctx.Done():
		}
	}
}

// onRediscovered: Lokinet answers again. The next media path binds to the
// node's address as it is now; the caller restarts at once, after a new
// lookup of the peer (the daemon forgot its mappings); the callee looks
// the caller up too and asks for that restart.
func (s *session) onRediscovered(r rediscovery) {
	w := &s.loop.lokinet
	w.rediscovering = false
	if r.err != nil {
		return
	}
	if w.down {
		return // gone again meanwhile; the next return looks again
	}
	s.mu.Lock()
	was := s.node
	s.node = r.node
	s.mu.Unlock()
	if was.IP != r.node.IP || was.Range != r.node.Range {
		s.log.Info("this node's Lokinet address changed", "was", was.IP, "now", r.node.IP, "range", r.node.Range)
	}
	s.emit.emit(Event{Kind: EventProgress, CallID: s.callID, Peer: s.peer.String(), Reason: ProgressLokinetBack,
		Message: fmt.Sprintf("Lokinet is back (%s on %s); rebuilding the media path", r.node.IP, r.node.Interface)})
	if s.loop.phase != phaseActive {
		return
	}
	s.loop.recovery.next = time.Time{}
	if s.role == signalling.Caller {
		s.maybeRestart(time.Now())
		return
	}
	s.loop.recovery.requestAfterLookup = true
	s.lookUpPeer(0)
}

// localNode is this node as Lokinet shows it now.
func (s *session) localNode() lokinet.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}

// lokinetEnding is the end of a call whose audio did not come back after
// this side's Lokinet went away, once silent has passed the limit; nil
// before that or when the daemon did not go away.
func (s *session) lokinetEnding(silent time.Duration) *ending {
	if !s.loop.lokinet.restarted || silent <= s.cfg.mediaTimeout()-lokinetLead {
		return nil
	}
	return hangUp(fmt.Errorf("%w: Lokinet went away and no audio came back for %v", ErrLokinetRestarted, silent.Round(time.Second)),
		signalling.ReasonLokinetRestarted)
}
