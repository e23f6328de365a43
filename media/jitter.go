package media

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"
)

// Jitter buffer defaults.
const (
	DefaultTargetDelay = 60 * time.Millisecond
	DefaultMaxDelay    = 2 * time.Second
	DefaultCatchUp     = 200 * time.Millisecond
	// DefaultMaxTarget caps an adaptive buffer's target. A longer buffer
	// would hide a stall (Lokinet replaces a session every minute or so,
	// stalling 400 ms) by adding its length to every later word of the
	// call; past this point concealing the gap is the better trade for a
	// conversation (ITU-T G.114: up to 150 ms one way is good, 400 ms
	// acceptable, and the onion path already costs 125 ms or more).
	DefaultMaxTarget = 200 * time.Millisecond
	// DefaultAdaptiveStart is the delay an adaptive buffer collects before
	// playout starts, rounded up to whole frames, until it has measured
	// the path.
	DefaultAdaptiveStart = 40 * time.Millisecond
)

// Adaptive policy constants.
const (
	// fastestWindow is the span of recent packets whose fastest transit
	// is the reference a packet's delay is measured from.
	fastestWindow = 2 * time.Second
	// calmWindow is the span of calm packets (delay peaks left out) whose
	// delays set the adaptive target.
	calmWindow = 10 * time.Second
	// calmPercentile of the calm packets' delays is the delay the buffer
	// must cover.
	calmPercentile = 0.95
	// peakMargin: a packet delayed more than this above the calm target's
	// cover is part of a delay peak (a stall, a burst after it, a host's
	// hiccup), not of the calm path.
	peakMargin = 60 * time.Millisecond
	// calmFirst: the first packets of a call, until this much audio, are
	// all taken as calm: the path's cover is not known yet, and a call's
	// start is often bursty.
	calmFirst = time.Second
	// peakMerge: peak packets less than this apart are one peak.
	peakMerge = 500 * time.Millisecond
	// peakWindow and peakCount: peakCount peaks or more within peakWindow
	// are recurring, sustained jitter, and the target covers them; fewer
	// are isolated peaks, concealed and then cut back (see recoverWindow).
	peakWindow = 10 * time.Second
	peakCount  = 3
	// recoverWindow: for this long after an underrun, audio buffered more
	// than two frames beyond the target (the late burst of a stall) is
	// dropped, oldest first, down to the target, unless peaks recur.
	recoverWindow = 2 * time.Second
	// adaptWindow is how long the buffer watches its fill level before it
	// drops or inserts one frame.
	adaptWindow = time.Second
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
	// Inserted: an adaptive buffer grows its delay by one frame; play one
	// frame of concealment. The sequence does not advance.
	Inserted
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
	case Inserted:
		return "inserted"
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
	// Skipped is a packet an adaptive buffer dropped just before this slot
	// to shrink its delay by one frame; a decoder may decode and discard
	// it to keep its state continuous.
	Skipped []byte
}

// JitterConfig configures NewJitterBuffer. The zero value gives the
// defaults: an adaptive buffer of 20 ms frames.
type JitterConfig struct {
	// FrameDuration is the audio in each packet; 0: 20 ms.
	FrameDuration time.Duration
	// Fixed keeps the target delay at TargetDelay. By default the buffer
	// is adaptive: its target follows the delays measured on the path,
	// delay peaks left out unless they recur (see JitterBuffer), never
	// below one frame.
	Fixed bool
	// TargetDelay is how much audio the buffer collects before playout
	// starts (for an adaptive buffer: until it has measured the path);
	// 0: DefaultTargetDelay (60 ms) when Fixed, else DefaultAdaptiveStart
	// (40 ms), rounded up to whole frames.
	TargetDelay time.Duration
	// MaxDelay bounds the audio held; beyond it the oldest packets are
	// dropped; 0: DefaultMaxDelay (2 s).
	MaxDelay time.Duration
	// CatchUp: when the buffered audio exceeds TargetDelay by more than
	// this (a burst after a network stall), Pop drops the oldest frames
	// down to TargetDelay so the delay does not stay high; 0:
	// DefaultCatchUp (200 ms); negative: never.
	CatchUp time.Duration
	// MaxTarget caps the adaptive target; 0: DefaultMaxTarget.
	MaxTarget time.Duration
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
	Skipped   uint64 // frames dropped by the adaptive policy to shrink the delay
	Inserted  uint64 // frames inserted by the adaptive policy to grow the delay
}

// JitterBuffer reorders RTP packets by sequence number (wrapping at 65535)
// and hands them out one per frame to a playout clock. Push and Pop may be
// called from different goroutines.
//
// An adaptive buffer (the default) sets its target delay from the path.
// Each packet's delay is its transit time (arrival time minus RTP time)
// minus the fastest transit of the last 2 s. A packet delayed more than
// 60 ms beyond what the target covers belongs to a delay peak (a stall and
// the burst after it); the other, calm packets of the last 10 s set the
// target: one frame plus the 95th percentile of their delays, rounded up
// to whole frames after ignoring a quarter frame of scheduling noise. Only
// recurring peaks (three or more within 10 s) raise the target to cover
// them, up to MaxTarget, and keep the bursts that end them, which the
// slower policy below plays out. An isolated peak is concealed while it
// lasts, and for 2 s after an underrun the late burst that ends it is cut
// back to the target (when it holds more than two frames beyond it),
// oldest packets first, so that a stall costs a gap rather than a lasting
// delay. The RFC 3550 jitter (Jitter) is reported, not used.
//
// Every second the buffer compares its fill level at each Pop with the
// target: when it never fell below two frames and rose above the target,
// it drops one frame (Slot.Skipped), preferring a quiet moment (PopQuiet);
// when it never reached the target, it inserts one frame of concealment
// (Status Inserted). An underrun also grows the delay by a frame, since
// the packet that was due is still played when it arrives. The delay never
// goes below one frame.
type JitterBuffer struct {
	mu     sync.Mutex
	log    *slog.Logger
	frame  time.Duration
	target time.Duration
	// maxTarget caps the adaptive target.
	maxTarget time.Duration
	catchUp   time.Duration
	capacity  int64 // frames held at most
	ring      []jbEntry
	mask      int64

	have    bool  // a packet has been accepted
	started bool  // playout has started
	head    int64 // extended sequence number of the next slot to play
	highest int64 // highest extended sequence number accepted

	jitter      float64 // RFC 3550 J, in 48 kHz timestamp units
	lastArrival time.Time
	lastTS      uint32
	haveTransit bool

	// Adaptive policy state.
	adaptive    bool
	transit     window // recent relative transit times, seconds
	fastest     float64
	calm        window  // recent calm packets' delays, seconds
	calmFirst   int     // calm packets needed before peaks are told apart
	cover       float64 // calmPercentile of calm, seconds
	pushes      int
	tsBase      uint32 // RTP time of transit zero
	arrivalBase time.Time
	peaks       []peak // recent delay peaks, oldest first
	inPeakAt    time.Time
	peakMode    bool  // peaks recur: the target covers them, bursts are kept
	recovering  int   // Pops left in which a late burst is cut back
	winPops     int   // Pops in the current adapt window
	winLen      int   // Pops per adapt window
	winMin      int64 // fewest frames buffered at a Pop this window
	winMax      int64 // most frames buffered at a Pop this window
	shrink      bool  // a frame is to be dropped
	grow        bool  // a frame is to be inserted
	pendingPops int   // Pops since shrink or grow was decided

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
	if cfg.MaxTarget == 0 {
		cfg.MaxTarget = DefaultMaxTarget
	}
	if cfg.TargetDelay == 0 {
		cfg.TargetDelay = DefaultTargetDelay
		if !cfg.Fixed {
			cfg.TargetDelay = DefaultAdaptiveStart
		}
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
	j := &JitterBuffer{
		log:       orDiscard(cfg.Logger),
		frame:     cfg.FrameDuration,
		target:    cfg.TargetDelay,
		catchUp:   cfg.CatchUp,
		maxTarget: cfg.MaxTarget,
		capacity:  capacity,
		ring:      make([]jbEntry, size),
		mask:      size - 1,
		adaptive:  !cfg.Fixed,
	}
	if j.adaptive {
		j.target = j.roundUp(j.target)
		j.transit = newWindow(int(fastestWindow / cfg.FrameDuration))
		j.calm = newWindow(int(calmWindow / cfg.FrameDuration))
		j.calmFirst = max(int(calmFirst/cfg.FrameDuration), 8)
		j.winLen = max(int(adaptWindow/cfg.FrameDuration), 4)
		j.resetWindow()
	}
	return j, nil
}

// roundUp rounds d up to whole frames, at least one.
func (j *JitterBuffer) roundUp(d time.Duration) time.Duration {
	return max((d+j.frame-1)/j.frame, 1) * j.frame
}

// Adaptive reports whether the target delay follows the path.
func (j *JitterBuffer) Adaptive() bool { return j.adaptive }

// FrameDuration returns the audio duration of one packet and one Pop.
func (j *JitterBuffer) FrameDuration() time.Duration { return j.frame }

// TargetDelay returns the delay the buffer fills to before playout starts
// and drains back to when catching up.
func (j *JitterBuffer) TargetDelay() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.target
}

// SetTargetDelay changes the target delay, clamped to 0..MaxDelay. An
// adaptive buffer overrides it at its next measurement.
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
		j.updateTransit(ts, arrival)
		j.store(j.head, payload)
		return
	}
	ext := j.highest + int64(int16(seq-uint16(j.highest)))
	if e := &j.ring[ext&j.mask]; e.ok && e.ext == ext {
		j.stats.Duplicate++
		return
	}
	j.updateJitter(ts, arrival)
	j.updateTransit(ts, arrival)
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
// It is PopQuiet(true): an adaptive buffer changes its delay as soon as it
// decides to.
func (j *JitterBuffer) Pop() Slot { return j.PopQuiet(true) }

// PopQuiet returns the slot due now; the playout clock calls it once per
// frame. quiet says whether the audio played just before is quiet, so that
// an adaptive buffer may drop or insert a frame there unheard; it does so
// anyway once the change has waited half an adapt window.
func (j *JitterBuffer) PopQuiet(quiet bool) Slot {
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
		j.shrink, j.grow = false, false
		j.resetWindow()
	}
	if j.recovering > 0 {
		j.recovering--
		if keep := max(int64(j.target/j.frame), 1); !j.peakMode && j.highest-j.head+1 > keep+2 {
			j.log.Debug("media: jitter buffer cutting a late burst back", "delay", j.delay(), "target", j.target)
			j.discard(j.highest + 1 - keep)
			j.shrink, j.grow = false, false
			j.resetWindow()
		}
	}
	var skipped []byte
	if j.adaptive {
		j.observe()
		if j.shrink || j.grow {
			j.pendingPops++
		}
		now := quiet || j.pendingPops > j.winLen/2
		switch {
		case j.grow && now:
			j.grow = false
			j.resetWindow()
			j.stats.Inserted++
			j.log.Debug("media: jitter buffer growing by one frame", "target", j.target)
			return Slot{Status: Inserted}
		case j.shrink && now && j.highest-j.head+1 >= 2:
			j.shrink = false
			j.resetWindow()
			j.stats.Skipped++
			j.log.Debug("media: jitter buffer shrinking by one frame", "target", j.target)
			if e := &j.ring[j.head&j.mask]; e.ok && e.ext == j.head {
				skipped = e.payload
				*e = jbEntry{}
			}
			j.head++
		}
	}
	if j.head > j.highest {
		j.stats.Underruns++
		if j.adaptive {
			j.recovering = int(recoverWindow / j.frame)
		}
		return Slot{Status: Empty}
	}
	ext := j.head
	j.head++
	e := &j.ring[ext&j.mask]
	if e.ok && e.ext == ext {
		s := Slot{Status: Ready, Seq: uint16(ext), Payload: e.payload, Skipped: skipped}
		*e = jbEntry{}
		return s
	}
	j.stats.Lost++
	s := Slot{Status: Missing, Seq: uint16(ext), Skipped: skipped}
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

// peak is one delay peak: when its first packet arrived, and the largest
// delay in it, in seconds.
type peak struct {
	at     time.Time
	height float64
}

// updateTransit measures one packet's delay above the fastest recent
// transit, files it as calm or as part of a delay peak, and refreshes the
// adaptive target every few packets.
func (j *JitterBuffer) updateTransit(ts uint32, arrival time.Time) {
	if !j.adaptive {
		return
	}
	if j.pushes == 0 {
		j.tsBase, j.arrivalBase = ts, arrival
	}
	rtp := int32(ts - j.tsBase)
	if rtp > 1<<30 || rtp < -(1<<30) {
		// Move the base along well before int32 wraps (about 6 hours),
		// keeping transit times continuous.
		j.arrivalBase = j.arrivalBase.Add(time.Duration(int64(rtp) * int64(time.Second) / SampleRate))
		j.tsBase = ts
		rtp = 0
	}
	r := arrival.Sub(j.arrivalBase).Seconds() - float64(rtp)/SampleRate
	j.transit.add(r)
	j.pushes++
	if j.pushes == 1 || r < j.fastest {
		j.fastest = r
	}
	d := r - j.fastest
	if j.calm.n >= j.calmFirst && d > j.cover+peakMargin.Seconds() {
		if j.inPeakAt.IsZero() || arrival.Sub(j.inPeakAt) > peakMerge {
			j.log.Debug("media: jitter buffer delay peak", "delay", time.Duration(d*float64(time.Second)), "cover", time.Duration(j.cover*float64(time.Second)))
			j.peaks = append(j.peaks, peak{at: arrival})
			if len(j.peaks) > 2*peakCount {
				j.peaks = slices.Delete(j.peaks, 0, 1)
			}
		}
		j.inPeakAt = arrival
		p := &j.peaks[len(j.peaks)-1]
		p.height = max(p.height, d)
	} else {
		j.calm.add(d)
	}
	if j.pushes%8 == 0 || j.pushes < 8 {
		j.fastest = j.transit.min()
		j.retarget(arrival)
	}
}

// retarget sets the adaptive target from the calm packets' delays and,
// when peaks recur, their heights.
func (j *JitterBuffer) retarget(now time.Time) {
	j.cover = j.calm.percentile(calmPercentile)
	cover := j.cover
	recent, height := 0, 0.0
	for _, p := range j.peaks {
		if now.Sub(p.at) <= peakWindow {
			recent++
			height = max(height, p.height)
		}
	}
	if j.peakMode = recent >= peakCount; j.peakMode {
		cover = max(cover, height)
	}
	noise := (j.frame / 4).Seconds()
	extra := time.Duration(math.Ceil(max(cover-noise, 0)/j.frame.Seconds())) * j.frame
	j.target = min(j.frame+extra, time.Duration(j.capacity)*j.frame, max(j.maxTarget, j.frame))
}

// window is a ring of the latest values.
type window struct {
	v    []float64
	n    int // values held
	next int
	sort []float64 // scratch for percentile
}

// newWindow returns a window of n values, at least 8.
func newWindow(n int) window {
	n = max(n, 8)
	return window{v: make([]float64, n), sort: make([]float64, 0, n)}
}

// add puts x in the window, replacing the oldest value when full.
func (w *window) add(x float64) {
	w.v[w.next] = x
	w.next = (w.next + 1) % len(w.v)
	w.n = min(w.n+1, len(w.v))
}

// min returns the smallest value held, 0 for none.
func (w *window) min() float64 {
	if w.n == 0 {
		return 0
	}
	return slices.Min(w.v[:w.n])
}

// percentile returns the q quantile of the values held, 0 for none.
func (w *window) percentile(q float64) float64 {
	if w.n == 0 {
		return 0
	}
	w.sort = append(w.sort[:0], w.v[:w.n]...)
	slices.Sort(w.sort)
	return w.sort[int(q*float64(w.n-1))]
}

// observe tracks the fill level at each Pop over the adapt window and, at
// its end, decides whether to drop or insert a frame.
func (j *JitterBuffer) observe() {
	if j.shrink || j.grow {
		return
	}
	n := int64(0)
	if j.head <= j.highest {
		n = j.highest - j.head + 1
	}
	j.winMin, j.winMax = min(j.winMin, n), max(j.winMax, n)
	j.winPops++
	if j.winPops < j.winLen {
		return
	}
	target := int64(j.target / j.frame)
	switch {
	case j.winMin >= 2 && j.winMax > target:
		j.shrink, j.pendingPops = true, 0
	case j.winMax < target:
		j.grow, j.pendingPops = true, 0
	}
	j.resetWindow()
}

// resetWindow starts a new adapt window.
func (j *JitterBuffer) resetWindow() {
	j.winPops, j.winMin, j.winMax = 0, math.MaxInt64, 0
}
