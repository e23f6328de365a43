package media

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
)

// Kinds of audio spec accepted by ParseSpec.
const (
	KindDevice  = "device"  // a sound card through miniaudio; Arg is a name or index, empty for the default
	KindFile    = "file"    // a WAV file; Arg is its path
	KindTone    = "tone"    // a sine tone (source only); Arg is its frequency in Hz
	KindSilence = "silence" // digital silence (source only)
	KindNull    = "null"    // silence forever as a source, discards as a sink
)

// specForms lists the accepted forms for error messages.
const specForms = "device[:NAME], file:PATH.wav, tone:HZ (1..20000), silence, null"

// Spec is a parsed audio spec such as "tone:440" or "file:in.wav", naming
// where a call's audio comes from (--in) or goes to (--out).
type Spec struct {
	Kind string // one of the Kind constants
	Arg  string // text after the first colon; empty for silence and null
}

// String returns the spec in the form ParseSpec reads.
func (s Spec) String() string {
	if s.Arg == "" {
		return s.Kind
	}
	return s.Kind + ":" + s.Arg
}

// Options tunes OpenSource and OpenSink. The zero value works.
type Options struct {
	Logger *slog.Logger // nil: no logging
	Loop   bool         // a file source starts again at its end instead of returning io.EOF
}

// ParseSpec parses an audio spec: device[:NAME], file:PATH.wav, tone:HZ with
// HZ from 1 to 20000 (decimals allowed), silence or null. The kind is not
// case sensitive. Errors wrap ErrBadSpec and list the accepted forms.
func ParseSpec(s string) (Spec, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	kind = strings.ToLower(kind)
	bad := func(reason string) (Spec, error) {
		return Spec{}, fmt.Errorf("%w %q: %s; accepted forms: %s", ErrBadSpec, s, reason, specForms)
	}
	switch kind {
	case KindDevice:
		return Spec{Kind: KindDevice, Arg: arg}, nil
	case KindFile:
		if arg == "" {
			return bad("file needs a path")
		}
		if !strings.HasSuffix(strings.ToLower(arg), ".wav") {
			return bad("file path must end in .wav")
		}
		return Spec{Kind: KindFile, Arg: arg}, nil
	case KindTone:
		if _, err := parseToneHz(arg); err != nil {
			return bad(err.Error())
		}
		return Spec{Kind: KindTone, Arg: arg}, nil
	case KindSilence, KindNull:
		if hasArg {
			return bad(kind + " takes no argument")
		}
		return Spec{Kind: kind}, nil
	case "":
		return bad("empty spec")
	default:
		return bad(fmt.Sprintf("unknown kind %q", kind))
	}
}

// parseToneHz parses a tone frequency and checks its range.
func parseToneHz(arg string) (float64, error) {
	if arg == "" {
		return 0, fmt.Errorf("tone needs a frequency in Hz")
	}
	hz, err := strconv.ParseFloat(arg, 64)
	if err != nil || math.IsNaN(hz) || hz < 1 || hz > 20000 {
		return 0, fmt.Errorf("tone frequency %q is not a number from 1 to 20000", arg)
	}
	return hz, nil
}

// OpenSource opens spec as a source of 48 kHz mono frames: a capture device,
// a WAV file (converted to 48 kHz mono; looping if opts.Loop), a tone,
// silence, or null (silence forever). A missing or unusable device gives an
// error wrapping ErrNoDevice.
func OpenSource(spec Spec, opts Options) (Source, error) {
	log := orDiscard(opts.Logger)
	switch spec.Kind {
	case KindDevice:
		return openDeviceSource(spec.Arg, log)
	case KindFile:
		return openWAVSource(spec.Arg, opts.Loop, log)
	case KindTone:
		hz, err := parseToneHz(spec.Arg)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadSpec, spec.String(), err)
		}
		return NewTone(hz), nil
	case KindSilence, KindNull:
		return NewSilence(), nil
	default:
		return nil, fmt.Errorf("%w %q: unknown kind; accepted forms: %s", ErrBadSpec, spec.String(), specForms)
	}
}

// OpenSink opens spec as a sink of 48 kHz mono frames: a playback device, a
// WAV file (48 kHz mono 16-bit, created or truncated), or null (discards).
// tone and silence are sources only and give an error wrapping ErrBadSpec. A
// missing or unusable device gives an error wrapping ErrNoDevice.
func OpenSink(spec Spec, opts Options) (Sink, error) {
	log := orDiscard(opts.Logger)
	switch spec.Kind {
	case KindDevice:
		return openDeviceSink(spec.Arg, log)
	case KindFile:
		return CreateWAV(spec.Arg)
	case KindNull:
		return &nullSink{}, nil
	case KindTone, KindSilence:
		return nil, fmt.Errorf("%w %q: %s is a source only; to discard received audio use null", ErrBadSpec, spec.String(), spec.Kind)
	default:
		return nil, fmt.Errorf("%w %q: unknown kind; accepted sink forms: device[:NAME], file:PATH.wav, null", ErrBadSpec, spec.String())
	}
}

// nullSink discards everything written to it.
type nullSink struct{ closed atomic.Bool }

func (s *nullSink) WriteFrame([]int16) error {
	if s.closed.Load() {
		return fmt.Errorf("media: null sink: %w", ErrClosed)
	}
	return nil
}

func (s *nullSink) Close() error {
	s.closed.Store(true)
	return nil
}
