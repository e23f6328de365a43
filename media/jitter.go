package media

import (
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Jitter buffer defaults.
const (
	DefaultTargetDelay = 60 * time.Millisecond
	DefaultMaxDelay    = 2 * time.Second
	DefaultCatchUp     = 200 * time.Millisecond
)

// Status says what a jitter buffer slot holds.
type Status int

// Slot statuses.
const (
	// Empty: nothing to play, because playout has not started yet (the
	// buffer has not reached its target delay) or because it ran dry
	// (underrun). An underrun does not advance the sequence: the packet
	// that was due is still played when it arrives.
	Empty Status = iota
	// Ready: Payload holds the packet due now.
	Ready
	// Missing: the packet due now is lost (a later one is buffered); Next
	// holds the following packet's payload if buffered, for FEC.
	Missing
)

// String returns the status name.
func (s Status) String() string {
	switch s {
	case Empty:
		return "empty"
	case Ready:
		return "ready"
	case Missing:
		return "missing"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Slot is one frame's worth of playout returned by JitterBuffer.Pop. Its
// payloads are read-only: Next is also the Payload of the following Pop.
type Slot struct {
	Status  Status
	Seq     uint16 // sequence number of a Ready or Missing slot
	Payload []byte // the packet, when Ready
	Next    []byte // the following packet, when Missing and it is buffered
}

// JitterConfig configures NewJitterBuffer. The zero value gives the
// defaults.
type JitterConfig struct {
	// FrameDuration is the audio in each packet; 0: 20 ms.
	FrameDuration time.Duration
	// TargetDelay is how much audio the buffer collects before playout
	// starts; 0: DefaultTargetDelay (60 ms).
	TargetDelay time.Duration
	// MaxDelay bounds the audio held; beyond it the oldest packets are
	// dropped; 0: DefaultMaxDelay (2 s).
	MaxDelay time.Duration
	// CatchUp: when the buffered audio exceeds TargetDelay by more than
	// this (a burst after a network stall), Pop drops the oldest frames
	// down to TargetDelay so the delay does not stay high; 0:
	// DefaultCatchUp (200 ms); negative: never.
	CatchUp time.Duration
	// Logger; nil: no logging.
	Logger *slog.Logger
}

// JitterStats counts what happened to the packets given to a JitterBuffer.
type JitterStats struct {
	Received  uint64 // packets pushed, duplicates and late ones included
	Late      uint64 // arrived after their slot was played, dropped
	Duplicate uint64 // already buffered, dropped
	Lost      uint64 // slots played as Missing
	Dropped   uint64 // buffered packets discarded to bound or catch up the delay
	Underruns uint64 // Pops after playout started that found nothing buffered
}

// JitterBuffer reorders RTP packets by sequence number (wrapping at 65535)
// and hands them out one per frame to a playout clock. Push and Pop may be
// called from different goroutines.
//
// The target delay is fixed by the configuration for now. SetTargetDelay is
// the seam for an adaptive policy, which Jitter (the RFC 3550 interarrival
// jitter estimate, kept up to date by Push) is there to feed.
type JitterBuffer struct {
	mu       sync.Mutex
	log      *slog.Logger
	frame    time.Duration
	target   time.Duration
	catchUp  time.Duration
	capacity int64 // frames held at most
	ring     []jbEntry
	mask     int64

	have    bool  // a packet has been accepted
	started bool  // playout has started
	head    int64 // extended sequence number of the next slot to play
	highest int64 // highest extended sequence number accepted

	jitter      float64 // RFC 3550 J, in 48 kHz timestamp units
	lastArrival time.Time
	lastTS      uint32
	haveTransit bool

	stats JitterStats
}

// jbEntry is one buffered packet.
type jbEntry struct {
	ext     int64
	payload []byte
	ok      bool
}

// seqBase keeps extended sequence numbers positive; a multiple of 65536.
const seqBase = int64(1) << 32

// NewJitterBuffer returns an empty jitter buffer configured by cfg; an
// invalid cfg gives an error wrapping ErrBadConfig.
func NewJitterBuffer(cfg JitterConfig) (*JitterBuffer, error) {
	if cfg.FrameDuration == 0 {
		cfg.FrameDuration = FrameDuration
	}
	if cfg.TargetDelay == 0 {
		cfg.TargetDelay = DefaultTargetDelay
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.CatchUp == 0 {
		cfg.CatchUp = DefaultCatchUp
	}
	switch {
	case cfg.FrameDuration < 0 || cfg.FrameDuration%(10*time.Millisecond) != 0:
		return nil, fmt.Errorf("media: new jitter buffer: %w: frame duration %v is not a multiple of 10 ms", ErrBadConfig, cfg.FrameDuration)
	case cfg.TargetDelay < 0 || cfg.MaxDelay < cfg.FrameDuration || cfg.TargetDelay > cfg.MaxDelay:
		return nil, fmt.Errorf("media: new jitter buffer: %w: need 0 <= target delay %v <= max delay %v, and max delay >= one frame",
			ErrBadConfig, cfg.TargetDelay, cfg.MaxDelay)
	case cfg.MaxDelay/cfg.FrameDuration > 1<<14:
		return nil, fmt.Errorf("media: new jitter buffer: %w: max delay %v holds too many frames", ErrBadConfig, cfg.MaxDelay)
	}
	capacity := int64(cfg.MaxDelay / cfg.FrameDuration)
	size := int64(1)
	for size < capacity {
		size <<= 1
	}
	return &JitterBuffer{
		log:      orDiscard(cfg.Logger),
		frame:    cfg.FrameDuration,
		target:   cfg.TargetDelay,
		catchUp:  cfg.CatchUp,
		capacity: capacity,
		ring:     make([]jbEntry, size),
		mask:     size - 1,
	}, nil
}

// FrameDuration returns the audio duration of one packet and one Pop.
func (j *JitterBuffer) FrameDuration() time.Duration { return j.frame }

// TargetDelay returns the delay the buffer fills to before playout starts
// and drains back to when catching up.
func (j *JitterBuffer) TargetDelay() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.target
}

// SetTargetDelay changes the target delay, clamped to 0..MaxDelay. It is the
// seam for an adaptive policy (for example one frame plus four times Jitter);
// nothing calls it yet.
func (j *JitterBuffer) SetTargetDelay(d time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.target = min(max(d, 0), time.Duration(j.capacity)*j.frame)
}

// Push adds a packet that arrived at arrival. It copies payload. Late and
// duplicate packets are counted and dropped; a packet that would make the
// buffer hold more than MaxDelay drops the oldest ones.
func (j *JitterBuffer) Push(seq uint16, ts uint32, payload []byte, arrival time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.Received++
	if !j.have {
		j.have = true
		j.head = seqBase + int64(seq)
		j.highest = j.head
		j.updateJitter(ts, arrival)
		j.store(j.head, payload)
		return
	}
	ext := j.highest + int64(int16(seq-uint16(j.highest)))
	if e := &j.ring[ext&j.mask]; e.ok && e.ext == ext {
		j.stats.Duplicate++
		return
	}
	j.updateJitter(ts, arrival)
	if ext < j.head {
		if j.started {
			j.stats.Late++
			return
		}
		if j.highest-ext+1 > j.capacity {
			j.stats.Dropped++
			return
		}
		j.head = ext // reordered ahead of the first packet, before playout
	}
	if ext > j.highest {
		j.highest = ext
		if over := j.highest - j.head + 1 - j.capacity; over > 0 {
			j.log.Debug("media: jitter buffer over max delay, dropping oldest", "frames", over)
			j.discard(j.head + over)
		}
	}
	j.store(ext, payload)
}

// store buffers a copy of payload at ext.
func (j *JitterBuffer) store(ext int64, payload []byte) {
	j.ring[ext&j.mask] = jbEntry{ext: ext, payload: append([]byte(nil), payload...), ok: true}
}

// discard drops every buffered packet before ext and moves head to ext.
func (j *JitterBuffer) discard(ext int64) {
	for e := j.head; e < ext && e < j.head+int64(len(j.ring)); e++ {
		if s := &j.ring[e&j.mask]; s.ok && s.ext == e {
			*s = jbEntry{}
			j.stats.Dropped++
		}
	}
	j.head = ext
}

// updateJitter folds one arrival into the RFC 3550 §6.4.1 estimate.
func (j *JitterBuffer) updateJitter(ts uint32, arrival time.Time) {
	if j.haveTransit {
		d := arrival.Sub(j.lastArrival).Seconds()*SampleRate - float64(int32(ts-j.lastTS))
		j.jitter += (math.Abs(d) - j.jitter) / 16
	}
	j.haveTransit = true
	j.lastArrival, j.lastTS = arrival, ts
}

// Pop returns the slot due now; the playout clock calls it once per frame.
func (j *JitterBuffer) Pop() Slot {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.have {
		return Slot{Status: Empty}
	}
	if !j.started {
		if j.delay() < j.target {
			return Slot{Status: Empty}
		}
		j.started = true
		j.log.Debug("media: jitter buffer playout started", "delay", j.delay())
	}
	if j.catchUp >= 0 && j.delay() > j.target+j.catchUp {
		keep := int64((j.target + j.frame - 1) / j.frame)
		j.log.Debug("media: jitter buffer catching up", "delay", j.delay(), "target", j.target)
		j.discard(j.highest + 1 - max(keep, 1))
	}
	if j.head > j.highest {
		j.stats.Underruns++
		return Slot{Status: Empty}
	}
	ext := j.head
	j.head++
	e := &j.ring[ext&j.mask]
	if e.ok && e.ext == ext {
		s := Slot{Status: Ready, Seq: uint16(ext), Payload: e.payload}
		*e = jbEntry{}
		return s
	}
	j.stats.Lost++
	s := Slot{Status: Missing, Seq: uint16(ext)}
	if n := &j.ring[(ext+1)&j.mask]; n.ok && n.ext == ext+1 {
		s.Next = n.payload
	}
	return s
}

// delay returns the audio buffered from head to highest, holes included.
func (j *JitterBuffer) delay() time.Duration {
	if !j.have || j.head > j.highest {
		return 0
	}
	return time.Duration(j.highest-j.head+1) * j.frame
}

// Delay returns the audio currently buffered ahead of the playout point,
// from the next slot to the newest packet, holes included.
func (j *JitterBuffer) Delay() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.delay()
}

// Jitter returns the RFC 3550 interarrival jitter estimate, from arrival
// times against RTP timestamps on the 48 kHz clock.
func (j *JitterBuffer) Jitter() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return time.Duration(j.jitter / SampleRate * float64(time.Second))
}

// Stats returns the packet counts so far.
func (j *JitterBuffer) Stats() JitterStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}
