package call

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

// Defaults of a ping.
const (
	// DefaultPingCount is how many probes a ping sends.
	DefaultPingCount = 4
	// DefaultPingInterval is the pause between a reply and the next probe.
	DefaultPingInterval = time.Second
	// DefaultPingTimeout bounds the wait for each reply: several onion
	// round trips with their spikes.
	DefaultPingTimeout = 10 * time.Second
	// MaxPingCount is the most probes one ping sends: what a listener
	// answers on one connection.
	MaxPingCount = signalling.DefaultMaxProbes
)

// EventProbe reports, on a listener, a probe answered or refused (Peer,
// Reason when refused).
const EventProbe EventKind = "probe"

// PingConfig is what a ping needs.
type PingConfig struct {
	// Node and Resolver are as in Config: the name is resolved and the
	// connection opened through Lokinet only.
	Node     lokinet.Node
	Resolver *lokinet.Resolver
	// Count is how many probes to send, 1 to MaxPingCount; 0 means
	// DefaultPingCount.
	Count int
	// Interval is the pause between a reply and the next probe; 0 means
	// DefaultPingInterval.
	Interval time.Duration
	// Timeout bounds the wait for each reply; 0 means DefaultPingTimeout.
	Timeout time.Duration
	// OnResolved, OnConnected and OnReply, if set, hear of each step as it
	// happens: n counts replies from 1.
	OnResolved  func(peer lokinet.Address, took time.Duration)
	OnConnected func(took time.Duration)
	OnReply     func(n int, rtt time.Duration)
	// Logger receives debug traces; nil discards them.
	Logger *slog.Logger
}

// PingResult is what a ping learnt.
type PingResult struct {
	// Peer is the probed node's .loki address.
	Peer lokinet.Address
	// Resolve is how long Lokinet took to resolve the name: for a peer
	// not talked to lately, mostly the time to build a path to it.
	Resolve time.Duration
	// Connect is how long the signalling connection took to open.
	Connect time.Duration
	// Sent counts the probes sent; RTTs holds the round trip of each one
	// answered, in order.
	Sent int
	RTTs []time.Duration
	// Reason is why the listener refused the probes, if it did.
	Reason string
}

// RTTRange returns the least, median and greatest round trip, or zeros
// when none was measured.
func (r *PingResult) RTTRange() (least, median, most time.Duration) {
	if len(r.RTTs) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(r.RTTs)
	slices.Sort(s)
	median = s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[0], median, s[len(s)-1]
}

// Ping resolves target as a call would, opens its signalling connection
// and measures round trips with probes, which a listener answers without
// ringing, only for callers its accept policy would let ring. It returns
// what it measured, also on error: ErrRejected (Reason says why) when the
// listener refuses, and the errors of Dial for a name or peer that cannot
// be reached.
func Ping(ctx context.Context, pc PingConfig, target lokinet.Target) (*PingResult, error) {
	count := pc.Count
	if count == 0 {
		count = DefaultPingCount
	}
	if count < 1 || count > MaxPingCount {
		return nil, fmt.Errorf("ping: %d probes: want 1 to %d", count, MaxPingCount)
	}
	interval := orDefault(pc.Interval, DefaultPingInterval)
	timeout := orDefault(pc.Timeout, DefaultPingTimeout)
	log := pc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	port := target.Port
	if port == 0 {
		port = DefaultPort
	}

	res := &PingResult{}
	start := time.Now()
	ip, peer, err := lookupPeer(ctx, pc.Node, pc.Resolver, target)
	if err != nil {
		return res, err
	}
	res.Peer, res.Resolve = peer, time.Since(start)
	if pc.OnResolved != nil {
		pc.OnResolved(peer, res.Resolve)
	}

	start = time.Now()
	conn, err := signalling.Dial(ctx, nodeDialer(pc.Node), netip.AddrPortFrom(ip, port), signalling.ConnOptions{Logger: log})
	if err != nil {
		return res, fmt.Errorf("%w: signalling to %s port %d: %w", ErrUnreachable, peer, port, err)
	}
	defer func() { _ = conn.Close() }()
	res.Connect = time.Since(start)
	if pc.OnConnected != nil {
		pc.OnConnected(res.Connect)
	}

	for i := range count {
		if i > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return res, ctx.Err()
			case <-t.C:
			}
		}
		rtt, err := probe(ctx, conn, timeout)
		res.Sent++
		if err != nil {
			var refused refusal
			if errors.As(err, &refused) {
				res.Reason = refused.m.Reason
			}
			return res, fmt.Errorf("ping %s: %w", peer, err)
		}
		res.RTTs = append(res.RTTs, rtt)
		if pc.OnReply != nil {
			pc.OnReply(len(res.RTTs), rtt)
		}
	}
	_ = conn.CloseWrite()
	return res, nil
}

// refusal is a listener's busy or reject in answer to a probe.
type refusal struct {
	m   signalling.Message
	err error
}

func (r refusal) Error() string {
	if r.m.Reason == "" {
		return fmt.Sprintf("%v (%s)", r.err, r.m.Type)
	}
	return fmt.Sprintf("%v (%s)", r.err, r.m.Reason)
}

func (r refusal) Unwrap() error { return r.err }

// probe sends one probe on conn and returns the time to its reply.
func probe(ctx context.Context, conn *signalling.Conn, timeout time.Duration) (time.Duration, error) {
	id := signalling.NewCallID()
	start := time.Now()
	if err := conn.Send(ctx, signalling.Message{Version: signalling.Version, Type: signalling.TypeProbe, CallID: id}); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := conn.Receive(rctx)
	rtt := time.Since(start)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return 0, fmt.Errorf("%w: no reply within %s", ErrTimeout, timeout)
	case errors.Is(err, io.EOF):
		return 0, fmt.Errorf("%w: the listener closed the connection without a reply (a lokicall too old to know probes does that too)", ErrConnectionLost)
	case errors.Is(err, signalling.ErrMalformed), errors.Is(err, signalling.ErrVersion):
		return 0, fmt.Errorf("%w: %w", ErrProtocol, err)
	default:
		return 0, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	switch {
	case m.CallID != id:
		return 0, fmt.Errorf("%w: %s for probe %s, sent %s", ErrProtocol, m.Type, m.CallID, id)
	case m.Type == signalling.TypeProbeReply:
		return rtt, nil
	case m.Type == signalling.TypeReject:
		return 0, refusal{m: m, err: ErrRejected}
	case m.Type == signalling.TypeBusy:
		return 0, refusal{m: m, err: ErrBusy}
	}
	return 0, fmt.Errorf("%w: %s in answer to a probe", ErrProtocol, m.Type)
}

// orDefault returns d, or def when d is zero or less.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
