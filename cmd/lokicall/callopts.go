package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/measure"
	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/tones"
)

// callOptions are the flags shared by call and listen.
type callOptions struct {
	in, out     string
	duration    time.Duration
	ringTimeout time.Duration
	// mediaTimeout bounds how long a call whose audio stopped keeps trying.
	mediaTimeout time.Duration
	mode         string
	bitrate      int
	frame        time.Duration

	stun, turn                   []string
	turnUsername, turnCredential string
	allowIPExposure              bool
	fallback                     string
	captureStamps, playoutStamps string
	tones                        string
	// stampFiles are the files behind the stamp flags, open for the whole
	// command (listen's calls share them); closeStamps closes them.
	stampFiles []*os.File
}

func (o *callOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.in, "in", "", "audio source: device[:NAME], file:PATH.wav, tone:HZ, silence, null (default: the system's default capture device)")
	fs.StringVar(&o.out, "out", "", "audio sink: device[:NAME], file:PATH.wav, null (default: the system's default playback device)")
	fs.DurationVar(&o.duration, "duration", 0, "hang up after this much audio (0: until the peer hangs up or Ctrl-C)")
	fs.DurationVar(&o.ringTimeout, "ring-timeout", call.DefaultRingTimeout, "how long a call may ring")
	fs.DurationVar(&o.mediaTimeout, "media-timeout", call.DefaultMediaTimeout, "how long a call whose audio stopped keeps trying to get it back before it ends (media-lost)")
	fs.StringVar(&o.mode, "mode", string(ice.ModeOnion), "connectivity mode: onion (nobody learns your IP), p2p (the peer and STUN/TURN operators learn it), relay (the TURN operator learns it)")
	fs.StringSliceVar(&o.stun, "stun", nil, "STUN server URI for p2p mode (stun:HOST[:PORT]); repeatable")
	fs.StringSliceVar(&o.turn, "turn", nil, "TURN server URI for p2p and relay modes (turn:HOST[:PORT][?transport=udp|tcp], turns:…); repeatable")
	fs.StringVar(&o.turnUsername, "turn-username", "", "TURN username")
	fs.StringVar(&o.turnCredential, "turn-credential", "", "TURN credential")
	fs.StringVar(&o.fallback, "fallback", "", "when the onion media path cannot be built, move the call to this mode: p2p or relay (needs --allow-ip-exposure; announced first; the callee must consent too)")
	fs.BoolVar(&o.allowIPExposure, "allow-ip-exposure", false, "consent to the p2p and relay modes, which reveal your IP address (calling in them, or answering callers who ask for them)")
	fs.StringVar(&o.captureStamps, "capture-stamps", "", "write the wall-clock time of every captured frame to this CSV (for mouth-to-ear measurement)")
	fs.StringVar(&o.playoutStamps, "playout-stamps", "", "write the wall-clock time of every played frame to this CSV (for mouth-to-ear measurement)")
	fs.StringVar(&o.tones, "tones", tones.Default, "call-progress tones on a sound device (ring, ringback, busy, declined): "+strings.Join(tones.Names(), ", ")+" (itu: ITU-T E.180, 425 Hz)")
	fs.IntVar(&o.bitrate, "bitrate", 32000, "Opus bitrate in bit/s (constant)")
	fs.DurationVar(&o.frame, "frame", 20*time.Millisecond, "audio frame duration: 10ms, 20ms, 40ms or 60ms (longer frames add delay, save bandwidth)")
}

// config turns the flags and the discovered node into a call.Config.
func (o *callOptions) config(ctx context.Context, g *globalOptions, events call.Emitter) (call.Config, error) {
	in, err := parseAudio(o.in)
	if err != nil {
		return call.Config{}, usageError{err}
	}
	out, err := parseAudio(o.out)
	if err != nil {
		return call.Config{}, usageError{err}
	}
	if err := probeDevices(in, out); err != nil {
		if o.in == "" || o.out == "" {
			return call.Config{}, noSoundCardError{err}
		}
		return call.Config{}, err
	}
	plan, err := tones.Lookup(o.tones)
	if err != nil {
		return call.Config{}, usageError{fmt.Errorf("--tones: %w", err)}
	}
	mode, err := ice.ParseMode(o.mode)
	if err != nil {
		return call.Config{}, usageError{err}
	}
	switch o.frame {
	case 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond:
	default:
		return call.Config{}, usageError{fmt.Errorf("--frame %v: want 10ms, 20ms, 40ms or 60ms", o.frame)}
	}
	servers, err := o.servers()
	if err != nil {
		return call.Config{}, usageError{err}
	}
	var fallback ice.Mode
	if o.fallback != "" {
		if fallback, err = ice.ParseMode(o.fallback); err != nil || !fallback.ExposesIP() {
			return call.Config{}, usageError{fmt.Errorf("--fallback %q: want p2p or relay", o.fallback)}
		}
	}
	consentFor := mode
	if !mode.ExposesIP() {
		consentFor = fallback
	}
	allow, err := o.consent(g, consentFor, servers)
	if err != nil {
		return call.Config{}, err
	}
	wrapSource, wrapSink, err := o.stampTaps()
	if err != nil {
		return call.Config{}, err
	}
	r, node, err := g.discover(ctx)
	if err != nil {
		_ = o.closeStamps()
		return call.Config{}, err
	}
	r.Progress = func(p lokinet.ProgressEvent) { events(progressEvent(p, time.Now())) }
	return call.Config{
		Node:            node,
		Resolver:        r,
		Mode:            mode,
		Servers:         servers,
		AllowIPExposure: allow,
		Fallback:        fallback,
		WrapSource:      wrapSource,
		WrapSink:        wrapSink,
		Tones:           plan,
		In:              in,
		Out:             out,
		Encoder:         media.EncoderConfig{Bitrate: o.bitrate, FrameDuration: o.frame},
		Duration:        o.duration,
		RingTimeout:     o.ringTimeout,
		MediaTimeout:    o.mediaTimeout,
		Events:          events,
		Logger:          g.logger,
	}, nil
}

// progressEvent reports a slow lookup at now, naming the peer as every
// other event does: without the fully qualified name's trailing dot.
func progressEvent(p lokinet.ProgressEvent, now time.Time) call.Event {
	name := strings.TrimSuffix(p.Name, ".")
	return call.Event{Time: now, Kind: call.EventProgress, Peer: name,
		Message: fmt.Sprintf("still looking up %s after %s (attempt %d: %s)", name, p.Elapsed.Round(time.Millisecond), p.Attempt, p.Reason)}
}

// parseAudio parses an --in or --out value; empty (not set anywhere) is the
// system's default device.
func parseAudio(v string) (media.Spec, error) {
	if v == "" {
		return media.Spec{Kind: media.KindDevice}, nil
	}
	return media.ParseSpec(v)
}

// noSoundCardError is a default device that would not open: the user was
// not told to pick audio, so the message says how.
type noSoundCardError struct{ err error }

func (e noSoundCardError) Error() string {
	return fmt.Sprintf("no sound card to call with (%v); choose audio with --in and --out, e.g. --in file:voice.wav or --in tone:440, --out file:heard.wav or --out null", e.err)
}
func (e noSoundCardError) Unwrap() error { return e.err }

// probeDevices opens and closes any sound device the specs name, so that a
// missing or busy device is reported before anyone is called or rings.
func probeDevices(in, out media.Spec) error {
	if in.Kind == media.KindDevice {
		src, err := media.OpenSource(in, media.Options{})
		if err != nil {
			return fmt.Errorf("audio input %s: %w", in, err)
		}
		_ = src.Close()
	}
	if out.Kind == media.KindDevice {
		sink, err := media.OpenSink(out, media.Options{})
		if err != nil {
			return fmt.Errorf("audio output %s: %w", out, err)
		}
		_ = sink.Close()
	}
	return nil
}

// servers validates the STUN and TURN flags.
func (o *callOptions) servers() ([]ice.Server, error) {
	var out []ice.Server
	for _, u := range o.stun {
		s, err := ice.ParseServer(u, "", "")
		if err != nil {
			return nil, fmt.Errorf("--stun: %w", err)
		}
		out = append(out, s)
	}
	for _, u := range o.turn {
		s, err := ice.ParseServer(u, o.turnUsername, o.turnCredential)
		if err != nil {
			return nil, fmt.Errorf("--turn: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// consent returns whether the user allows the IP-exposing modes. Calling in
// one of them without --allow-ip-exposure asks at a terminal (the answer must
// be typed out) and refuses elsewhere.
func (o *callOptions) consent(g *globalOptions, mode ice.Mode, servers []ice.Server) (bool, error) {
	if o.allowIPExposure || !mode.ExposesIP() {
		return o.allowIPExposure, nil
	}
	if !g.term.interactive() {
		return false, usageError{fmt.Errorf("%s mode: %s; pass --allow-ip-exposure (or set allow_ip_exposure in the config file) to accept that", mode, ice.ExposureNotice(mode, servers))}
	}
	fmt.Fprintf(g.stderr, "%s mode: %s.\nType \"expose my IP\" to continue: ", mode, ice.ExposureNotice(mode, servers))
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	if strings.TrimSpace(line) != "expose my IP" {
		return false, usageError{fmt.Errorf("%s mode not confirmed; nothing was sent", mode)}
	}
	return true, nil
}

// stampTaps returns the source and sink wrappers that log frame timestamps
// for the measurement flags, or nil. The files stay open until closeStamps;
// if one cannot be created, none stays open.
func (o *callOptions) stampTaps() (func(media.Source) media.Source, func(media.Sink) media.Sink, error) {
	var (
		wrapSource func(media.Source) media.Source
		wrapSink   func(media.Sink) media.Sink
	)
	if o.captureStamps != "" {
		f, err := o.createStamps("--capture-stamps", o.captureStamps)
		if err != nil {
			return nil, nil, err
		}
		wrapSource = func(src media.Source) media.Source { return measure.NewCapture(src, f, time.Now) }
	}
	if o.playoutStamps != "" {
		f, err := o.createStamps("--playout-stamps", o.playoutStamps)
		if err != nil {
			return nil, nil, err
		}
		wrapSink = func(sink media.Sink) media.Sink { return measure.NewPlayout(sink, false, f, time.Now) }
	}
	return wrapSource, wrapSink, nil
}

// createStamps creates a stamp file and keeps it for closeStamps; on failure
// it closes the ones created before.
func (o *callOptions) createStamps(flag, path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s: %w", flag, err), o.closeStamps())
	}
	o.stampFiles = append(o.stampFiles, f)
	return f, nil
}

// closeStamps closes the stamp files. The wrappers flush into them when a
// call's audio closes, so it runs after the last call.
func (o *callOptions) closeStamps() error {
	var errs []error
	for _, f := range o.stampFiles {
		errs = append(errs, f.Close())
	}
	o.stampFiles = nil
	return errors.Join(errs...)
}

// closeStamps closes o's stamp files at the end of a command, logging a
// failure (the call itself is over by then).
func closeStamps(g *globalOptions, o *callOptions) {
	if err := o.closeStamps(); err != nil {
		g.logger.Warn("closing stamp files", "err", err)
	}
}
