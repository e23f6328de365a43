package call

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/transport/v5"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/signalling"
	"github.com/lokicall/lokicall/tones"
)

// DefaultPort is the TCP port a callee listens on for signalling, on its
// Lokinet address only.
const DefaultPort = signalling.DefaultPort

// Default timeouts of a call.
const (
	// DefaultRingTimeout bounds ringing: a callee that has not decided by
	// then declines with "timeout".
	DefaultRingTimeout = 45 * time.Second
	// DefaultSetupTimeout bounds the time from accept to a connected media
	// path. ICE itself gives up after the mode's Failed timer.
	DefaultSetupTimeout = 40 * time.Second
	// DefaultFallbackAfter bounds the onion attempt of a call that may fall
	// back: several onion round trips with their spikes, well short of the
	// setup timeout.
	DefaultFallbackAfter = 15 * time.Second
	// DefaultInterruptAfter is how long without audio from the peer, once
	// audio has started, before the call reports an interruption: more than
	// the jitter buffer can cover.
	DefaultInterruptAfter = time.Second
	// DefaultRecoverAfter is how long an interruption lasts before the
	// caller starts to rebuild the media path (ice-restart).
	DefaultRecoverAfter = 2 * time.Second
	// DefaultMediaTimeout is how long a call keeps trying to get its media
	// back before it ends with signalling.ReasonMediaLost.
	DefaultMediaTimeout = 60 * time.Second
)

// Config is what both ends of a call need.
type Config struct {
	// Node is this node as Lokinet shows it (lokinet.Discover).
	Node lokinet.Node
	// Resolver is this node's Lokinet DNS; every name and reverse lookup of
	// the call goes through it and nowhere else.
	Resolver *lokinet.Resolver
	// Mode is the connectivity policy; "" means onion. The p2p and relay
	// modes expose the IP address and need AllowIPExposure.
	Mode ice.Mode
	// Servers are the STUN and TURN servers of the p2p and relay modes;
	// onion mode never contacts them.
	Servers []ice.Server
	// AllowIPExposure is the user's explicit consent to modes that reveal
	// the IP address: without it a caller refuses to use them and a callee
	// refuses calls that ask for them.
	AllowIPExposure bool
	// Fallback, if set to p2p or relay, lets a caller move the media of an
	// accepted call to that mode when the onion media path cannot be built.
	// It needs AllowIPExposure, is announced before any packet leaves a
	// non-Lokinet interface, and the callee's own consent decides whether it
	// takes part.
	Fallback ice.Mode
	// FallbackAfter is how long after accept the onion media path may take
	// to connect before the fallback starts; 0 means DefaultFallbackAfter.
	FallbackAfter time.Duration
	// Timers overrides the mode's ICE and DTLS timers.
	Timers ice.Timers
	// Net is the network stack for media; nil means the host's.
	Net transport.Net

	// In and Out are the audio source and sink.
	In, Out media.Spec
	// Encoder configures Opus; the zero value is lokicall's default.
	Encoder media.EncoderConfig
	// JitterDelay is the jitter buffer's target delay; 0 means the media
	// package's default.
	JitterDelay time.Duration

	// Duration hangs up after this much audio; 0 waits for the peer, the end
	// of a file source or cancellation.
	Duration time.Duration
	// RingTimeout and SetupTimeout bound ringing and media setup; 0 means
	// the defaults.
	RingTimeout, SetupTimeout time.Duration

	// InterruptAfter, RecoverAfter and MediaTimeout bound an interruption
	// of an established call: after InterruptAfter without audio from the
	// peer the call reports an interruption; after RecoverAfter (or when ICE
	// reports the path disconnected or failed) the caller builds a new media
	// path beside the old one and offers it (ice-restart), again with
	// backoff; after MediaTimeout without audio the call ends
	// with signalling.ReasonMediaLost on both sides. MediaTimeout is also
	// ICE's Failed timer unless Timers sets one, so that ICE keeps a path
	// that may still come back. 0 means the defaults.
	InterruptAfter, RecoverAfter, MediaTimeout time.Duration

	// Muted, if set, is asked before every captured frame; while it returns
	// true the call sends silence (same packet size and rate). It must be
	// cheap and safe for concurrent use.
	Muted func() bool

	// OnStats, if set, receives a LiveStats snapshot about once a second
	// while audio flows. It runs on its own goroutine and must not block
	// for long.
	OnStats func(LiveStats)
	// WrapSource and WrapSink, if set, wrap the opened audio source and sink
	// (measurement taps such as measure.Capture and measure.Playout). The
	// call closes what they return, which must close what it wraps.
	WrapSource func(media.Source) media.Source
	WrapSink   func(media.Sink) media.Sink

	// Tones, if set, are played on a device output (Out of kind device):
	// the ring while this callee rings, the ringback while the callee
	// rings this caller, then the busy or declined tone if it ends so.
	// Nil plays none; other outputs (files, null) never get them.
	Tones *tones.Plan
	// WatchLokinet follows Lokinet's interface (Node.Interface) during a
	// call, to notice a daemon restart (the interface goes away and comes
	// back); nil means lokinet.WatchInterface.
	WatchLokinet func(ctx context.Context, iface string) (<-chan lokinet.InterfaceState, error)

	// Events receives the call's events; nil drops them.
	Events Emitter
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Config) ringTimeout() time.Duration {
	if c.RingTimeout > 0 {
		return c.RingTimeout
	}
	return DefaultRingTimeout
}

func (c *Config) fallbackAfter() time.Duration {
	if c.FallbackAfter > 0 {
		return c.FallbackAfter
	}
	return DefaultFallbackAfter
}

func (c *Config) setupTimeout() time.Duration {
	if c.SetupTimeout > 0 {
		return c.SetupTimeout
	}
	return DefaultSetupTimeout
}

func (c *Config) interruptAfter() time.Duration {
	if c.InterruptAfter > 0 {
		return c.InterruptAfter
	}
	return DefaultInterruptAfter
}

func (c *Config) recoverAfter() time.Duration {
	if c.RecoverAfter > 0 {
		return c.RecoverAfter
	}
	return DefaultRecoverAfter
}

func (c *Config) mediaTimeout() time.Duration {
	if c.MediaTimeout > 0 {
		return c.MediaTimeout
	}
	return DefaultMediaTimeout
}

// checkMode refuses an IP-exposing mode the user has not consented to.
func (c *Config) checkMode(mode ice.Mode) error {
	if mode.ExposesIP() && !c.AllowIPExposure {
		return fmt.Errorf("%w: %s mode: %s; it needs explicit consent (--allow-ip-exposure)", ErrPolicy, mode, mode.Exposure())
	}
	return nil
}

// calleeMode is the mode a callee uses for a caller who asks for offered: the
// same, except that a callee set to relay mode keeps its IP from the peer
// by answering with relay candidates only.
func (c *Config) calleeMode(offered ice.Mode) ice.Mode {
	if offered.ExposesIP() && c.Mode == ice.ModeRelay {
		return ice.ModeRelay
	}
	return offered
}

// Decision is a callee's answer to an incoming call.
type Decision struct {
	Accept bool
	// Reason is sent to the caller when the call is declined.
	Reason string
}

// Policy decides whether to accept a call from caller. It may block (a
// prompt) until ctx ends, which happens when ringing times out or the caller
// hangs up.
type Policy func(ctx context.Context, caller lokinet.Address) Decision

// AcceptAll accepts every call.
func AcceptAll(context.Context, lokinet.Address) Decision { return Decision{Accept: true} }

// DeclineAll declines every call with reason "declined".
func DeclineAll(context.Context, lokinet.Address) Decision {
	return Decision{Reason: signalling.ReasonDeclined}
}
