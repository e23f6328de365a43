// Package media moves call audio: sources and sinks (sound device, WAV file,
// tone, silence, null), the Opus encoder and decoder, an RTP-aware jitter
// buffer with loss concealment and in-band FEC recovery, a level meter, and
// the sender and receiver loops that tie them together.
//
// All audio inside the package is 48 kHz mono signed 16-bit PCM in frames of
// 20 ms (960 samples) unless a caller configures another multiple of 10 ms.
// Nothing here knows about WebRTC: the sender hands encoded payloads to a
// function and the receiver takes packets by sequence number and timestamp.
//
// Privacy (DESIGN §4): the encoder runs in hard constant bitrate with DTX off,
// and a muted sender keeps sending encoded silence of the same size at the
// same rate, so the packet stream shows nothing of the speech in it.
//
// This is the only package of the module that uses cgo (libopus through
// github.com/hraban/opus, miniaudio through github.com/gen2brain/malgo).
package media

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// SampleRate is the sample rate of all PCM inside the package, in Hz.
const SampleRate = 48000

// FrameDuration is the default duration of one frame.
const FrameDuration = 20 * time.Millisecond

// FrameSamples is the number of mono samples in one FrameDuration frame.
const FrameSamples = SampleRate * int(FrameDuration) / int(time.Second)

// granuleSamples is the 10 ms unit that every frame length is a multiple of.
const granuleSamples = SampleRate / 100

// Source produces 48 kHz mono PCM.
//
// ReadFrame fills exactly len(pcm) samples, where len(pcm) is a positive
// multiple of 10 ms (480 samples); other lengths give an error wrapping
// ErrFrameSize. It returns io.EOF (unwrapped) once the source has no more
// audio, and ctx.Err() if ctx ends while it waits. A device source blocks
// until captured audio is there, so it is the clock of its reader; synthetic
// and file sources return at once and the reader paces them (see Clocked).
// ReadFrame after Close returns an error wrapping ErrClosed. A Source is used
// by one goroutine at a time, except that Close may be called concurrently to
// end a blocked ReadFrame.
type Source interface {
	ReadFrame(ctx context.Context, pcm []int16) error
	Close() error
}

// Sink consumes 48 kHz mono PCM.
//
// WriteFrame takes any number of samples, normally one frame. Close flushes
// what is buffered (a WAV sink fixes its header) and releases the sink; a
// second Close returns nil. WriteFrame after Close returns an error wrapping
// ErrClosed.
type Sink interface {
	WriteFrame(pcm []int16) error
	Close() error
}

// Clocked reports whether src keeps real time by itself, as a capture device
// does: its ReadFrame blocks until the audio is there. A source that is not
// clocked returns at once and is paced by its reader (Sender does this). A
// source says it is clocked by having a method Clocked() bool that returns
// true.
func Clocked(src Source) bool {
	c, ok := src.(interface{ Clocked() bool })
	return ok && c.Clocked()
}

// checkFrame reports whether n samples are a positive multiple of 10 ms.
func checkFrame(n int) error {
	if n <= 0 || n%granuleSamples != 0 {
		return fmt.Errorf("%w: %d samples is not a positive multiple of 10 ms (%d samples)", ErrFrameSize, n, granuleSamples)
	}
	return nil
}

// samplesFor returns the number of samples in d at SampleRate.
func samplesFor(d time.Duration) int {
	return int(int64(d) * SampleRate / int64(time.Second))
}

// orDiscard returns l, or a logger that drops everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
