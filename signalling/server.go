package signalling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// DefaultPort is the default signalling port (TCP). In onion mode the
// listener is bound to the Lokinet interface address only.
const DefaultPort = 7787

// DefaultMaxPending is how many connections may wait for their first
// message at once.
const DefaultMaxPending = 16

// DefaultFirstMessageTimeout bounds the wait for an incoming connection's
// offer when Server.FirstMessageTimeout is zero.
const DefaultFirstMessageTimeout = 10 * time.Second

// DefaultMaxProbes is how many probes one connection may send when
// Server.MaxProbes is zero.
const DefaultMaxProbes = 10

// lingerTimeout bounds how long a refused connection waits for the caller to
// read the refusal and close; a few onion round trips.
const lingerTimeout = 5 * time.Second

// Server accepts signalling connections and hands each valid offer to
// Handle. Listener, Identify and Handle are required; the other fields have
// working zero values.
type Server struct {
	// Listener accepts the connections; in onion mode it is bound to the
	// Lokinet interface address only. Serve closes it on return.
	Listener net.Listener

	// Identify names the caller from the connection's source IP, through a
	// reverse (PTR) lookup in Lokinet, which the caller cannot forge. It
	// should bound its own time. An error or a zero Address refuses the call
	// with reject "unknown-caller".
	Identify func(ctx context.Context, remote netip.Addr) (lokinet.Address, error)

	// Busy reports whether a call is in progress; while it does, new offers
	// are refused with busy. Nil means never busy. Two offers arriving
	// together may both pass: Handle must still cope with a second call.
	Busy func() bool
	// MaxPending bounds the connections that have not yet sent their offer;
	// more are closed at once. 0 means DefaultMaxPending.
	MaxPending int
	// OnBusy, if set, hears of each caller turned away as busy.
	OnBusy func(caller lokinet.Address)

	// Handle is called, in the connection's own goroutine, for each offer
	// from an identified caller. It owns in.Conn and must close it. Its
	// context ends when Serve is returning; Serve waits for Handle to return.
	Handle func(ctx context.Context, in *Incoming)

	// Calls holds the calls a resume may join: the Server hands a resume
	// to the call with its ID only if that call's peer is the caller
	// Identify names. Nil refuses every resume with ReasonNoSuchCall. Busy
	// does not apply to resumes.
	Calls *Calls

	// FirstMessageTimeout bounds the wait for the offer on a new connection,
	// and for each probe after the first on a probing one. Zero or less
	// means DefaultFirstMessageTimeout.
	FirstMessageTimeout time.Duration

	// Probe decides, for a caller identified as for an offer, whether its
	// probes are answered: "" answers them with probe-reply, any other
	// reason refuses the connection with reject and that reason, as a call
	// from that caller would be refused. Nil refuses every probe with
	// ReasonDeclined. It must not ring or ask anybody.
	Probe func(ctx context.Context, caller lokinet.Address) (reason string)
	// MaxProbes bounds the probes answered on one connection, which then
	// closes; 0 means DefaultMaxProbes. A probing connection holds its
	// MaxPending slot until it closes.
	MaxProbes int

	// Logger receives the reasons connections are refused. Nil discards them.
	Logger *slog.Logger
}

// Incoming is a call offered to a Server, or a new connection for a call
// going on (a resume).
type Incoming struct {
	// Conn is the signalling connection, for the rest of the call.
	Conn *Conn
	// Offer is the first message; its Type is TypeOffer or TypeResume.
	Offer Message
	// Caller is the caller's address as Identify established it.
	Caller lokinet.Address
	// Remote is the caller's IP and port in this node's view.
	Remote netip.AddrPort
}

// Refusal is how a Server turns a connection away: a reject, busy or
// hangup message with its reason.
type Refusal struct {
	// Type is the message sent: TypeReject, TypeBusy or TypeHangup.
	Type Type
	// Reason is the message's reason, such as ReasonNoSuchCall.
	Reason string
}

// Serve accepts connections until ctx ends, which returns nil, or the
// listener fails, which returns that error. On return it has closed the
// listener, ended the context given to Identify and Handle, and waited for
// every connection goroutine (and so every Handle call) to return.
//
// Per connection it reads the first message within FirstMessageTimeout; it
// must be an offer or a resume. Input that is malformed, oversized, out of
// order or late is logged at warn level with the remote address and that
// connection is closed; the Server keeps serving. An offer or resume whose
// caller cannot be identified, or whose From differs from the identified
// address, is refused with reject; an offer while Busy, with busy; a resume
// as Calls decides.
func (s *Server) Serve(ctx context.Context) error {
	if s.Listener == nil {
		return fmt.Errorf("%w: Server.Listener is nil", ErrConfig)
	}
	if s.Identify == nil || s.Handle == nil {
		_ = s.Listener.Close()
		return fmt.Errorf("%w: Server.Identify and Server.Handle are required", ErrConfig)
	}
	ctx, cancel := context.WithCancel(ctx)
	stopClosing := context.AfterFunc(ctx, func() { _ = s.Listener.Close() })
	var wg sync.WaitGroup
	defer func() {
		cancel()
		stopClosing()
		_ = s.Listener.Close()
		wg.Wait()
	}()

	log := s.logger()
	maxPending := s.MaxPending
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	slots := make(chan struct{}, maxPending)
	var backoff time.Duration
	for {
		nc, err := s.Listener.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !retryable(err) {
				return fmt.Errorf("signalling: accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("signalling: accept failed; retrying", "err", err, "after", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		backoff = 0
		// Connections that have not yet made their offer are bounded, so
		// that idle connections cannot pile up.
		select {
		case slots <- struct{}{}:
		default:
			log.Warn("signalling: too many connections waiting for their offer; closing one", "remote", nc.RemoteAddr())
			_ = nc.Close()
			continue
		}
		release := sync.OnceFunc(func() { <-slots })
		wg.Go(func() {
			defer release()
			s.serveConn(ctx, nc, release)
		})
	}
}

// retryable reports whether an Accept error is a passing shortage or a
// connection that died before it was accepted, after which accepting again
// may succeed.
func retryable(err error) bool {
	for _, e := range []error{syscall.ECONNABORTED, syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn, offered func()) {
	c := NewConn(nc, ConnOptions{Logger: s.Logger})
	remote := c.RemoteAddr()
	log := s.logger().With("remote", remote)
	handed := false
	defer func() {
		if !handed {
			_ = c.Close()
		}
	}()

	timeout := s.FirstMessageTimeout
	if timeout <= 0 {
		timeout = DefaultFirstMessageTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	offer, err := c.Receive(rctx)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return // shutting down
	case errors.Is(err, io.EOF):
		log.Debug("signalling: connection closed before any message")
		return
	default:
		log.Warn("signalling: dropping connection: bad first message", "err", err)
		return
	}
	log = log.With("call_id", offer.CallID)
	if offer.Type != TypeOffer && offer.Type != TypeProbe && offer.Type != TypeResume {
		log.Warn("signalling: dropping connection: first message is not an offer, probe or resume", "type", offer.Type)
		return
	}

	caller, err := s.Identify(ctx, remote.Addr())
	if err == nil && caller.IsZero() {
		err = errors.New("no address")
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Warn("signalling: refusing call: cannot identify caller", "err", err)
		s.refuse(ctx, log, c, offer, TypeReject, ReasonUnknownCaller)
		return
	}
	log = log.With("caller", caller)
	if offer.Type == TypeProbe {
		s.answerProbes(ctx, log, c, offer, caller)
		return
	}
	if offer.From != "" && offer.From != caller.String() {
		log.Warn("signalling: refusing call: claimed caller differs from the connection's", "type", offer.Type, "from", offer.From)
		s.refuse(ctx, log, c, offer, TypeReject, ReasonCallerIDMismatch)
		return
	}
	in := &Incoming{Conn: c, Offer: offer, Caller: caller, Remote: remote}
	if offer.Type == TypeResume {
		if r := s.Calls.resume(ctx, in); r != nil {
			log.Warn("signalling: refusing resume", "refusal", r.Type, "reason", r.Reason)
			s.refuse(ctx, log, c, offer, r.Type, r.Reason)
			return
		}
		handed = true
		offered()
		return
	}
	if s.Busy != nil && s.Busy() {
		log.Info("signalling: refusing call: busy")
		if s.OnBusy != nil {
			s.OnBusy(caller)
		}
		s.refuse(ctx, log, c, offer, TypeBusy, "")
		return
	}
	handed = true
	offered()
	s.Handle(ctx, in)
}

// answerProbes answers first, a probe from caller, and the probes that
// follow it on c, or refuses them as the Probe policy says.
func (s *Server) answerProbes(ctx context.Context, log *slog.Logger, c *Conn, first Message, caller lokinet.Address) {
	reason := ReasonDeclined
	if s.Probe != nil {
		reason = s.Probe(ctx, caller)
	}
	if reason != "" {
		log.Info("signalling: refusing probe", "reason", reason)
		s.refuse(ctx, log, c, first, TypeReject, reason)
		return
	}
	maxProbes := s.MaxProbes
	if maxProbes <= 0 {
		maxProbes = DefaultMaxProbes
	}
	timeout := s.FirstMessageTimeout
	if timeout <= 0 {
		timeout = DefaultFirstMessageTimeout
	}
	p := first
	for n := 1; ; n++ {
		if err := c.Send(ctx, Message{Version: Version, Type: TypeProbeReply, CallID: p.CallID}); err != nil {
			log.Debug("signalling: cannot answer probe", "err", err)
			return
		}
		log.Debug("signalling: answered probe", "n", n)
		if n >= maxProbes {
			_ = c.CloseLinger(ctx, lingerTimeout)
			return
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		next, err := c.Receive(rctx)
		cancel()
		switch {
		case err == nil && next.Type == TypeProbe:
			p = next
			continue
		case err == nil:
			log.Warn("signalling: dropping connection: a probe followed by something else", "type", next.Type)
		case errors.Is(err, io.EOF), ctx.Err() != nil:
		default:
			log.Warn("signalling: dropping connection: bad probe", "err", err)
		}
		return
	}
}

// refuse answers offer with t and reason, then closes c gracefully.
func (s *Server) refuse(ctx context.Context, log *slog.Logger, c *Conn, offer Message, t Type, reason string) {
	m := Message{Version: Version, Type: t, CallID: offer.CallID, Reason: reason}
	if err := c.Send(ctx, m); err != nil {
		log.Warn("signalling: cannot send refusal", "type", t, "err", err)
		return
	}
	_ = c.CloseLinger(ctx, lingerTimeout)
}

// ContextDialer dials connections; *net.Dialer is one. To keep signalling on
// Lokinet, its LocalAddr should be the node's Lokinet IP.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Dial connects over TCP to addr, the callee's IP in this node's view, with d,
// and wraps the connection in a Conn.
func Dial(ctx context.Context, d ContextDialer, addr netip.AddrPort, opts ConnOptions) (*Conn, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: Dial needs a dialer", ErrConfig)
	}
	if !addr.IsValid() || addr.Port() == 0 {
		return nil, fmt.Errorf("%w: Dial to invalid address %s", ErrConfig, addr)
	}
	nc, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("signalling: dial %s: %w", addr, err)
	}
	return NewConn(nc, opts), nil
}
