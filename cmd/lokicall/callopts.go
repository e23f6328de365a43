package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/media"
)

// callOptions are the flags shared by call and listen.
type callOptions struct {
	in, out     string
	duration    time.Duration
	ringTimeout time.Duration
	mode        string
	bitrate     int
}

func (o *callOptions) register(fs *pflag.FlagSet, defaultIn string) {
	fs.StringVar(&o.in, "in", defaultIn, "audio source: device[:NAME], file:PATH.wav, tone:HZ, silence, null")
	fs.StringVar(&o.out, "out", "null", "audio sink: device[:NAME], file:PATH.wav, null")
	fs.DurationVar(&o.duration, "duration", 0, "hang up after this much audio (0: until the peer hangs up or Ctrl-C)")
	fs.DurationVar(&o.ringTimeout, "ring-timeout", call.DefaultRingTimeout, "how long a call may ring")
	fs.StringVar(&o.mode, "mode", string(ice.ModeOnion), "connectivity mode: onion (nobody learns your IP)")
	fs.IntVar(&o.bitrate, "bitrate", 32000, "Opus bitrate in bit/s (constant)")
}

// config turns the flags and the discovered node into a call.Config.
func (o *callOptions) config(ctx context.Context, g *globalOptions, events call.Emitter) (call.Config, error) {
	in, err := media.ParseSpec(o.in)
	if err != nil {
		return call.Config{}, usageError{err}
	}
	out, err := media.ParseSpec(o.out)
	if err != nil {
		return call.Config{}, usageError{err}
	}
	if err := probeDevices(in, out); err != nil {
		return call.Config{}, err
	}
	mode, err := ice.ParseMode(o.mode)
	if err != nil {
		return call.Config{}, usageError{err}
	}
	r, node, err := g.discover(ctx)
	if err != nil {
		return call.Config{}, err
	}
	r.Progress = func(p lokinet.ProgressEvent) {
		events(call.Event{Kind: call.EventProgress, Peer: p.Name,
			Message: fmt.Sprintf("still looking up %s after %s (attempt %d: %s)", p.Name, p.Elapsed.Round(time.Millisecond), p.Attempt, p.Reason)})
	}
	return call.Config{
		Node:        node,
		Resolver:    r,
		Mode:        mode,
		In:          in,
		Out:         out,
		Encoder:     media.EncoderConfig{Bitrate: o.bitrate},
		Duration:    o.duration,
		RingTimeout: o.ringTimeout,
		Events:      events,
		Logger:      g.logger,
	}, nil
}

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
