package call

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

// ListenConfig is what a callee needs beyond Config.
type ListenConfig struct {
	Config
	// Port is the signalling port on the Lokinet address; 0 means
	// DefaultPort.
	Port uint16
	// Accept decides each incoming call; nil declines every call.
	Accept Policy
	// MaxCalls stops listening after this many calls have ended (accepted
	// or not; busy signals do not count); 0 means no limit.
	MaxCalls int
	// OnCallEnd, if set, receives each call's result.
	OnCallEnd func(stats *Stats, err error)
	// Probe decides which callers' reachability probes are answered
	// (ProbePolicy); a refused probe gets the Decision's reason in a
	// reject. Nil refuses every probe with "declined".
	Probe func(caller lokinet.Address) Decision
	// OnIncoming, if set, is called as each call arrives (after the caller
	// event) with a function that hangs that call up: a decline while it
	// rings, a hang-up once answered.
	OnIncoming func(callID string, caller lokinet.Address, hangUp func())
	// LokinetWait is how long Lokinet's interface may be away before the
	// listener says, once, that it is still waiting for it; 0 means
	// DefaultLokinetWait. The listener waits on either way.
	LokinetWait time.Duration
}

// Listen serves incoming calls on the node's Lokinet address until ctx ends
// or MaxCalls calls have ended. It returns nil on cancellation; when MaxCalls
// is reached it returns the last call's error.
//
// It follows Lokinet's interface (Node.Interface) as calls do: while the
// daemon is away nothing listens and Listen waits for it, however long;
// when it is back, Listen looks the node up again and listens on its
// address as it is now, on the same port.
func Listen(ctx context.Context, lc ListenConfig) error {
	port := lc.Port
	if port == 0 {
		port = DefaultPort
	}
	log := lc.logger()
	sock, err := listenLokinet(ctx, lc.Node.IP, port)
	if err != nil {
		return err
	}
	lc.Events.emit(Event{Kind: EventListen, Address: lc.Node.Address.String(), Message: sock.Addr().String()})
	ln := newRebindable(sock)
	node := &currentNode{node: lc.Node}

	var following sync.WaitGroup
	defer following.Wait() // after stop
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	following.Go(func() {
		(&follower{lc: &lc, port: port, ln: ln, node: node, log: log}).run(sctx)
	})
	var (
		calls   signalling.Calls
		busy    atomic.Bool
		mu      sync.Mutex
		ended   int
		lastErr error
	)
	srv := &signalling.Server{
		Listener: ln,
		Identify: func(ctx context.Context, remote netip.Addr) (lokinet.Address, error) {
			if n := node.get(); !n.Contains(remote) {
				return lokinet.Address{}, fmt.Errorf("%w: connection from %v, outside Lokinet range %v", ErrPolicy, remote, n.Range)
			}
			return lc.Resolver.LookupAddr(ctx, remote)
		},
		Busy:  busy.Load,
		Calls: &calls,
		OnBusy: func(caller lokinet.Address) {
			lc.Events.emit(Event{Kind: EventMissed, Peer: caller.String(), Reason: signalling.ReasonBusy,
				Message: "missed call from " + caller.String() + ": you were in another call"})
			log.Info("call log: missed call while busy", "caller", caller)
		},
		Handle: func(ctx context.Context, in *signalling.Incoming) {
			if !busy.CompareAndSwap(false, true) {
				lc.Events.emit(Event{Kind: EventMissed, Peer: in.Caller.String(), Reason: signalling.ReasonBusy,
					Message: "missed call from " + in.Caller.String() + ": you were in another call"})
				_ = in.Conn.Send(ctx, signalling.Message{Version: signalling.Version, Type: signalling.TypeBusy, CallID: in.Offer.CallID, Reason: signalling.ReasonBusy})
				_ = in.Conn.CloseLinger(ctx, signallingLinger)
				return
			}
			// The call binds its media to the node as it is now.
			clc := lc
			clc.Node = node.get()
			stats, err := answer(sctx, &clc, in, &calls)
			busy.Store(false)
			if lc.OnCallEnd != nil {
				lc.OnCallEnd(stats, err)
			}
			mu.Lock()
			ended++
			lastErr = err
			if lc.MaxCalls > 0 && ended >= lc.MaxCalls {
				stop()
			}
			mu.Unlock()
		},
		Probe: func(_ context.Context, caller lokinet.Address) string {
			d := Decision{Reason: signalling.ReasonDeclined}
			if lc.Probe != nil {
				d = lc.Probe(caller)
			}
			if d.Accept {
				lc.Events.emit(Event{Kind: EventProbe, Peer: caller.String(), Message: "answered a probe from " + caller.String()})
				return ""
			}
			if d.Reason == "" {
				d.Reason = signalling.ReasonDeclined
			}
			lc.Events.emit(Event{Kind: EventProbe, Peer: caller.String(), Reason: d.Reason, Message: "refused a probe from " + caller.String()})
			return d.Reason
		},
		Logger: log,
	}
	err = srv.Serve(sctx)
	mu.Lock()
	defer mu.Unlock()
	if lc.MaxCalls > 0 && ended >= lc.MaxCalls {
		return lastErr
	}
	if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return fmt.Errorf("serve calls: %w", err)
	}
	return nil
}

// answer runs one incoming call on the callee's side: ICE and DTLS connect
// while the policy decides, media starts on accept.
func answer(ctx context.Context, lc *ListenConfig, in *signalling.Incoming, calls *signalling.Calls) (*Stats, error) {
	start := time.Now()
	cfg := &lc.Config
	cfg.Events.emit(Event{Kind: EventCaller, CallID: in.Offer.CallID, Peer: in.Caller.String()})
	ctx, hangUp := context.WithCancel(ctx)
	defer hangUp()
	if lc.OnIncoming != nil {
		lc.OnIncoming(in.Offer.CallID, in.Caller, hangUp)
	}
	mode, err := ice.ParseMode(in.Offer.Mode)
	if in.Offer.Mode == "" {
		mode, err = ice.ModeOnion, nil
	}
	mode = cfg.calleeMode(mode)
	if err == nil {
		err = cfg.checkMode(mode)
	}
	if err != nil {
		// The caller asks for a mode this callee has not consented to.
		_ = in.Conn.Send(ctx, signalling.Message{Version: signalling.Version, Type: signalling.TypeReject,
			CallID: in.Offer.CallID, Reason: signalling.ReasonModeRefused})
		_ = in.Conn.CloseLinger(ctx, signallingLinger)
		cfg.Events.emit(Event{Kind: EventState, CallID: in.Offer.CallID, State: StateEnded, Peer: in.Caller.String(),
			Reason: signalling.ReasonModeRefused, Message: err.Error()})
		return nil, fmt.Errorf("%w: caller asked for %s mode", ErrRejected, in.Offer.Mode)
	}
	s, err := newSession(cfg, mode, signalling.Callee, in.Offer.CallID, in.Conn, in.Caller, in.Remote.Addr(), start)
	if err != nil {
		_ = in.Conn.Close()
		return nil, err
	}
	// A caller whose signalling connection breaks may resume the call on a
	// new one; once the call is over, a resume gets its end.
	ended := calls.Add(in.Offer.CallID, in.Caller, s)
	defer func() { ended(signalling.Refusal{Type: signalling.TypeHangup, Reason: s.endReason}) }()
	if err := s.machine.Received(signalling.TypeOffer); err != nil {
		return s.finish(ending{err: fmt.Errorf("%w: %w", ErrProtocol, err), reason: signalling.ReasonProtocolError, notify: signalling.TypeReject})
	}
	s.state(StateIncoming, "")
	if err := s.applyRemoteDescription(webrtc.SDPTypeOffer, in.Offer.SDP); err != nil {
		return s.finish(ending{err: err, reason: signalling.ReasonBadOffer, notify: signalling.TypeReject})
	}
	if err := s.peerPtime(in.Offer.Ptime); err != nil {
		return s.finish(ending{err: err, reason: signalling.ReasonError, notify: signalling.TypeReject})
	}
	if err := s.send(signalling.Message{Type: signalling.TypeRinging}); err != nil {
		return s.finish(ending{err: err, reason: signalling.ReasonError})
	}
	if s.mode.ExposesIP() {
		// Nothing that reveals this node's addresses (its answer and
		// candidates, or TURN allocations) before the person or policy
		// has accepted the call.
		s.deferredAnswer = true
	} else if err := s.sendAnswer(); err != nil {
		return s.finish(ending{err: err, reason: signalling.ReasonError, notify: signalling.TypeReject})
	}
	s.state(StateRinging, "")
	s.playTone(ringTone)

	policy := lc.Accept
	if policy == nil {
		policy = DeclineAll
	}
	decisions := make(chan Decision, 1)
	pctx, cancel := context.WithTimeout(ctx, cfg.ringTimeout())
	defer cancel()
	go func() {
		d := policy(pctx, in.Caller)
		if pctx.Err() != nil && !d.Accept {
			d = Decision{Reason: signalling.ReasonTimeout}
		}
		decisions <- d
	}()
	return s.run(ctx, decisions)
}
