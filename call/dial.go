package call

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

// Dial calls target and runs the call until it ends. It returns the call's
// statistics (nil when no call was set up) and nil for a completed call, or
// an error matching one of this package's sentinels.
func Dial(ctx context.Context, cfg Config, target lokinet.Target) (*Stats, error) {
	start := time.Now()
	log := cfg.logger().With("target", target.String())
	if err := cfg.checkMode(cfg.Mode); err != nil {
		return nil, err
	}
	if cfg.Fallback != "" {
		if !cfg.Fallback.ExposesIP() {
			return nil, fmt.Errorf("%w: fallback to %s: want p2p or relay", ErrPolicy, cfg.Fallback)
		}
		if err := cfg.checkMode(cfg.Fallback); err != nil {
			return nil, fmt.Errorf("fallback: %w", err)
		}
		if cfg.Fallback == ice.ModeRelay && !hasTURN(cfg.Servers) {
			return nil, fmt.Errorf("%w: fallback to relay needs a TURN server", ErrPolicy)
		}
	}
	port := target.Port
	if port == 0 {
		port = DefaultPort
	}
	cfg.Events.emit(Event{Kind: EventState, State: StateResolving, Peer: target.Host})
	ip, peer, err := lookupPeer(ctx, cfg.Node, cfg.Resolver, target)
	if err != nil {
		return nil, err
	}
	log.Debug("resolved", "ip", ip, "peer", peer)

	cfg.Events.emit(Event{Kind: EventState, State: StateConnecting, Peer: peer.String()})
	conn, err := signalling.Dial(ctx, nodeDialer(cfg.Node), netip.AddrPortFrom(ip, port), signalling.ConnOptions{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%w: signalling to %s port %d: %w", ErrUnreachable, peer, port, err)
	}
	s, err := newSession(&cfg, cfg.Mode, signalling.Caller, signalling.NewCallID(), conn, peer, ip, start)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	s.redialTo = netip.AddrPortFrom(ip, port)
	sdp, err := s.localDescription(webrtc.SDPTypeOffer)
	if err == nil {
		err = s.send(signalling.Message{Type: signalling.TypeOffer, From: cfg.Node.Address.String(), SDP: sdp, Mode: string(s.mode), Ptime: s.ptime()})
	}
	if err == nil {
		err = s.localDescriptionSent()
	}
	if err != nil {
		return s.finish(ending{err: err, reason: signalling.ReasonError})
	}
	s.state(StateOffering, "")
	return s.run(ctx, nil)
}

// lookupPeer resolves target through Lokinet's DNS to its IP in this node's
// view, which must lie in the Lokinet range, and its .loki address.
func lookupPeer(ctx context.Context, node lokinet.Node, r *lokinet.Resolver, target lokinet.Target) (netip.Addr, lokinet.Address, error) {
	ip, err := r.LookupIP(ctx, target.Host)
	if err != nil {
		return netip.Addr{}, lokinet.Address{}, classifyLookup(target.Host, err)
	}
	if !node.Contains(ip) {
		return netip.Addr{}, lokinet.Address{}, fmt.Errorf("%w: %s resolved to %v, outside Lokinet range %v", ErrPolicy, target.Host, ip, node.Range)
	}
	peer := target.Address
	if peer.IsZero() {
		// An ONS name: learn the address behind it the same way a callee
		// learns the caller's, from Lokinet's reverse mapping.
		if peer, err = r.LookupAddr(ctx, ip); err != nil {
			return netip.Addr{}, lokinet.Address{}, classifyLookup(ip.String(), err)
		}
	}
	return ip, peer, nil
}

// classifyLookup maps a Lokinet DNS failure to the call's sentinels.
func classifyLookup(name string, err error) error {
	switch {
	case errors.Is(err, lokinet.ErrNoDaemon):
		return fmt.Errorf("%w: %w", ErrNoLokinet, err)
	case errors.Is(err, lokinet.ErrNotFound):
		return fmt.Errorf("%w: %s does not exist on Lokinet: %w", ErrUnreachable, name, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("resolve %s: %w", name, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
}

func hasTURN(servers []ice.Server) bool {
	for _, s := range servers {
		if s.IsTURN() {
			return true
		}
	}
	return false
}

// nodeDialer dials from node's Lokinet address, so that signalling leaves
// only through Lokinet's interface.
func nodeDialer(node lokinet.Node) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: node.IP.AsSlice()}}
}
