package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Sender reads frames from a Source, encodes them and hands each packet to
// Write. Fill in the fields, then call Run once.
type Sender struct {
	Source  Source
	Encoder *Encoder
	// Write sends one encoded packet holding dur of audio; an error ends Run.
	Write func(payload []byte, dur time.Duration) error
	// Muted, if set, is asked before every frame; while it returns true the
	// source is still read (it may be the clock) but encoded silence is
	// sent instead, of the same size at the same rate (DESIGN §4).
	Muted func() bool
	// Level, if set, measures the frames read from the source (muted or not).
	Level *Meter
	// Clock paces sources that are not Clocked; nil: SystemClock.
	Clock  Clock
	Logger *slog.Logger

	frames, muted atomic.Uint64
}

// SenderStats counts what a Sender sent.
type SenderStats struct {
	Frames uint64 // packets written
	Muted  uint64 // of which encoded silence because muted
}

// Stats returns the counts so far; it may be called while Run runs.
func (s *Sender) Stats() SenderStats {
	return SenderStats{Frames: s.frames.Load(), Muted: s.muted.Load()}
}

// Run sends until ctx ends (it returns nil), the source ends (it returns
// io.EOF, unwrapped, so a caller can tell a finished file from a hang-up), or
// reading, encoding or writing fails (it returns that error, wrapped). A
// Clocked source sets the pace itself; any other source is read on a
// drift-free schedule of one frame per frame duration from the start.
func (s *Sender) Run(ctx context.Context) error {
	if s.Source == nil || s.Encoder == nil || s.Write == nil {
		return fmt.Errorf("media: sender: %w: Source, Encoder and Write are required", ErrBadConfig)
	}
	log := orDiscard(s.Logger)
	clock := s.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	dur := s.Encoder.FrameDuration()
	pcm := make([]int16, s.Encoder.FrameSamples())
	silence := make([]int16, len(pcm))
	clocked := Clocked(s.Source)
	var sched *schedule
	if !clocked {
		sched = newSchedule(clock, dur)
	}
	log.Debug("media: sender started", "frame", dur, "clocked", clocked)
	for {
		if sched != nil {
			behind, err := sched.wait(ctx)
			if err != nil {
				return nil
			}
			if behind > 0 {
				log.Warn("media: sender fell behind, restarting its schedule", "behind", behind)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := s.Source.ReadFrame(ctx, pcm); err != nil {
			switch {
			case errors.Is(err, io.EOF):
				log.Debug("media: sender source ended", "frames", s.frames.Load())
				return io.EOF
			case ctx.Err() != nil:
				return nil
			}
			return fmt.Errorf("media: sender: read source: %w", err)
		}
		if s.Level != nil {
			s.Level.Update(pcm)
		}
		in := pcm
		muted := s.Muted != nil && s.Muted()
		if muted {
			in = silence
		}
		pkt, err := s.Encoder.Encode(in)
		if err != nil {
			return fmt.Errorf("media: sender: %w", err)
		}
		if err := s.Write(pkt, dur); err != nil {
			return fmt.Errorf("media: sender: write: %w", err)
		}
		s.frames.Add(1)
		if muted {
			s.muted.Add(1)
		}
	}
}

// Receiver plays packets from the network through a jitter buffer, decoder
// and sink on its own playout clock. Fill in the fields, then call Push from
// the network goroutine and Run once from another.
type Receiver struct {
	Jitter  *JitterBuffer
	Decoder *Decoder
	Sink    Sink
	Logger  *slog.Logger
	// Level, if set, measures every frame written to the sink.
	Level *Meter
	// Clock is the playout clock; nil: SystemClock.
	Clock Clock

	mu    sync.Mutex
	stats ReceiverStats
}

// ReceiverStats describes a Receiver's playout so far.
type ReceiverStats struct {
	Played            uint64        // frames written to the sink
	Decoded           uint64        // frames decoded from their own packet
	Recovered         uint64        // lost frames rebuilt from the next packet's FEC
	Concealed         uint64        // frames made up by loss concealment (loss without a next packet, underrun, bad packet)
	Underruns         uint64        // frames due while the jitter buffer was dry
	DecodeErrors      uint64        // packets that failed to decode (concealed)
	Late              uint64        // packets that arrived after their slot was played
	Duplicate         uint64        // duplicate packets
	Lost              uint64        // slots played as missing (Recovered or Concealed)
	Skipped           uint64        // packets dropped unplayed to shrink the jitter buffer's delay
	Inserted          uint64        // concealment frames played to grow the jitter buffer's delay
	FirstPlayout      time.Time     // when the first frame was written; zero until then
	JitterBufferDelay time.Duration // audio buffered ahead of playout now
	TargetDelay       time.Duration // the jitter buffer's target delay now
	Jitter            time.Duration // RFC 3550 interarrival jitter
}

// Push hands a packet that arrived at arrival to the jitter buffer; it is
// safe to call from the network goroutine while Run runs.
func (r *Receiver) Push(seq uint16, ts uint32, payload []byte, arrival time.Time) {
	r.Jitter.Push(seq, ts, payload, arrival)
}

// Stats returns the playout counts so far; it may be called while Run runs.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	js := r.Jitter.Stats()
	st.Late, st.Duplicate, st.Lost = js.Late, js.Duplicate, js.Lost
	st.Skipped = js.Skipped
	st.JitterBufferDelay = r.Jitter.Delay()
	st.TargetDelay = r.Jitter.TargetDelay()
	st.Jitter = r.Jitter.Jitter()
	return st
}

// Run is the playout clock. Once per frame duration it takes one slot from
// the jitter buffer and, once playout has started, writes exactly one frame
// to the sink: a Ready packet decoded; a Missing one rebuilt by FEC from the
// next packet when that carries FEC data (HasFEC), else concealed; an
// underrun, or a frame the adaptive buffer inserts, concealed. A packet the
// adaptive buffer skips is decoded and discarded so the decoder stays in
// step. So the sink keeps real time and gaps become concealed audio. Before
// the jitter buffer first fills nothing is written. The packets' duration
// must be the jitter buffer's frame duration. Run returns nil when ctx ends,
// or an error when the sink fails.
func (r *Receiver) Run(ctx context.Context) error {
	if r.Jitter == nil || r.Decoder == nil || r.Sink == nil {
		return fmt.Errorf("media: receiver: %w: Jitter, Decoder and Sink are required", ErrBadConfig)
	}
	log := orDiscard(r.Logger)
	clock := r.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	dur := r.Jitter.FrameDuration()
	pcm := make([]int16, samplesFor(dur))
	scratch := make([]int16, len(pcm))
	sched := newSchedule(clock, dur)
	started, checked := false, false
	quiet := true
	for {
		behind, err := sched.wait(ctx)
		if err != nil {
			return nil
		}
		if behind > 0 {
			log.Warn("media: receiver fell behind, restarting its playout schedule", "behind", behind)
		}
		slot := r.Jitter.PopQuiet(quiet)
		if slot.Skipped != nil {
			if _, err := r.Decoder.Decode(slot.Skipped, scratch); err != nil {
				log.Debug("media: receiver: skipped packet did not decode", "err", err)
			}
		}
		var count *uint64
		switch slot.Status {
		case Ready:
			if !checked {
				checked = true
				if d, err := PacketDuration(slot.Payload); err == nil && d != dur {
					log.Warn("media: receiver: peer's frame duration differs from ours; its audio will not decode",
						"peer", d, "ours", dur)
				}
			}
			n, err := r.Decoder.Decode(slot.Payload, pcm)
			if err == nil && n == len(pcm) {
				count = &r.stats.Decoded
				break
			}
			log.Debug("media: receiver: bad packet, concealing", "seq", slot.Seq, "samples", n, "err", err)
			r.add(&r.stats.DecodeErrors)
			count = r.conceal(pcm, log)
		case Missing:
			if slot.Next != nil {
				if err := r.Decoder.DecodeFEC(slot.Next, pcm); err == nil {
					count = &r.stats.Recovered
					break
				}
			}
			count = r.conceal(pcm, log)
		case Inserted:
			r.conceal(pcm, log)
			count = &r.stats.Inserted
		case Empty:
			if !started {
				continue
			}
			r.add(&r.stats.Underruns)
			count = r.conceal(pcm, log)
		}
		if !started {
			started = true
			r.mu.Lock()
			r.stats.FirstPlayout = clock.Now()
			r.mu.Unlock()
			log.Debug("media: receiver playout started")
		}
		if err := r.Sink.WriteFrame(pcm); err != nil {
			if errors.Is(err, ErrClosed) && ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("media: receiver: write sink: %w", err)
		}
		if r.Level != nil {
			r.Level.Update(pcm)
		}
		quiet = isQuiet(pcm)
		r.mu.Lock()
		*count++
		r.stats.Played++
		r.mu.Unlock()
	}
}

// conceal fills pcm by loss concealment (silence if even that fails) and
// returns the counter to bump.
func (r *Receiver) conceal(pcm []int16, log *slog.Logger) *uint64 {
	if err := r.Decoder.Conceal(pcm); err != nil {
		log.Debug("media: receiver: concealment failed, playing silence", "err", err)
		clear(pcm)
	}
	return &r.stats.Concealed
}

// add increments a counter under the stats lock.
func (r *Receiver) add(c *uint64) {
	r.mu.Lock()
	*c++
	r.mu.Unlock()
}

// quietLevel is the level in dBFS below which a frame counts as quiet, so
// that the jitter buffer may change its delay there unheard.
const quietLevel = -40

// isQuiet reports whether pcm is below quietLevel.
func isQuiet(pcm []int16) bool {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return rmsDBFS(math.Sqrt(sum/float64(max(len(pcm), 1)))) < quietLevel
}
