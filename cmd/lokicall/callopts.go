package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/ice"
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
	mode, err := ice.ParseMode(o.mode)
	if err != nil {
		return call.Config{}, usageError{err}
	}
	r, node, err := g.discover(ctx)
	if err != nil {
		return call.Config{}, err
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
