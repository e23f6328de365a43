package media

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DeviceKind says which way a sound device moves audio.
type DeviceKind int

// Device kinds.
const (
	DeviceCapture  DeviceKind = iota + 1 // microphone, line in
	DevicePlayback                       // speaker, headphones
)

// String returns "capture" or "playback".
func (k DeviceKind) String() string {
	switch k {
	case DeviceCapture:
		return "capture"
	case DevicePlayback:
		return "playback"
	}
	return fmt.Sprintf("DeviceKind(%d)", int(k))
}

// DeviceInfo describes one sound device as the audio system lists it.
type DeviceInfo struct {
	Kind  DeviceKind
	Index int    // position in the list of its kind: device:INDEX selects it
	Name  string // device:NAME selects it (exact, else a unique case-insensitive substring)
	// ID is the backend's identifier: the PCM name for ALSA ("hw:CARD=PCH,DEV=0",
	// "default", a PCM of ~/.asoundrc) and PulseAudio, which device:ID also
	// selects; hex for backends whose identifiers are not text.
	ID      string
	Default bool // the system's default device of its kind
}

// deviceRingSamples is how much audio a device ring buffer holds: the bound
// on capture backlog and on playback latency.
const deviceRingSamples = SampleRate / 5 // 200 ms

// Drift and backlog (see trim). A capture device paces the Sender, so its
// clock never accumulates a backlog; one appears only when the reader
// stalls. The receiver plays out on the system clock, so a playback device
// whose clock is slower than the system clock accumulates queued audio and
// one that is faster runs dry. Both rings therefore watch their fill level
// after every read and trim the oldest audio when the smallest fill over
// trimWindow stayed above the level they need; a playback ring that runs
// dry starts again only once it holds a frame and playbackMargin more, so an
// underrun costs one gap of silence instead of a gap every period.
const (
	trimWindow = SampleRate // samples read between trim decisions: 1 s
	// captureKeep: a capture ring needs no backlog; trim above one period.
	captureKeep, captureTrimAbove = 0, granuleSamples
	// playbackKeep: a playback ring keeps 20 ms against the scheduling
	// jitter between the receiver's writes and the device's reads; a
	// windowed minimum 2.5 ms above that (a slow device clock) is trimmed.
	playbackKeep, playbackTrimAbove = 2 * granuleSamples, 2*granuleSamples + granuleSamples/4
	playbackMargin                  = 2 * granuleSamples
)

// clocklessAfter and clocklessRatio detect a device without a clock of its
// own: ALSA's null PCM, and the file plugin over it, hand over or take audio
// as fast as they are asked (alsa-lib 1.2.8 reports a full buffer at every
// poll). Once a device has moved clocklessAfter of audio in less than
// 1/clocklessRatio of that time it is paced by the system clock in its
// callback. A real device never runs at twice real time, so this never
// engages for one.
const (
	clocklessAfter = 200 * time.Millisecond
	clocklessRatio = 2
)

// pacer paces a device callback to the system clock once the device has
// shown that it has no clock (see clocklessAfter).
type pacer struct {
	now    func() time.Time
	sleep  func(time.Duration)
	start  time.Time // first callback
	frames int64     // samples moved since start
	// Once clockless: the callback returns no earlier than anchor plus the
	// duration of the samples moved since anchorFrames.
	clockless    bool
	anchor       time.Time
	anchorFrames int64
	resyncs      int // anchors set again after falling behind
}

// after accounts for n samples moved by the callback and, for a clockless
// device, sleeps until they are due. It reports whether it set the anchor:
// when the device was just found to be clockless, and when the callback
// fell more than resyncAfter behind and pacing starts again from now (so a
// measurement of the device can follow every anchor).
func (p *pacer) after(n int) (anchored bool) {
	now := p.now()
	if p.start.IsZero() {
		p.start = now
	}
	p.frames += int64(n)
	if !p.clockless {
		audio := time.Duration(p.frames) * time.Second / SampleRate
		if audio < clocklessAfter || now.Sub(p.start)*clocklessRatio >= audio {
			return false
		}
		p.clockless, p.anchor, p.anchorFrames = true, now, p.frames
		return true
	}
	due := p.anchor.Add(time.Duration(p.frames-p.anchorFrames) * time.Second / SampleRate)
	if late := now.Sub(due); late > resyncAfter {
		// The process was stopped: start again from now, no burst.
		p.anchor, p.anchorFrames = now, p.frames
		p.resyncs++
		return true
	}
	if d := due.Sub(now); d > 0 {
		p.sleep(d)
	}
	return false
}

// matchDevice picks the entry of list that name selects: an index, an exact
// name, or a unique case-insensitive substring. An empty name selects the
// default device and returns nil.
func matchDevice(list []DeviceInfo, kind DeviceKind, name string) (*DeviceInfo, error) {
	if name == "" {
		return nil, nil
	}
	names := make([]string, len(list))
	for i, d := range list {
		names[i] = strconv.Quote(d.Name)
	}
	avail := "none"
	if len(names) > 0 {
		avail = strings.Join(names, ", ")
	}
	if i, err := strconv.Atoi(name); err == nil {
		if i >= 0 && i < len(list) {
			return &list[i], nil
		}
		return nil, fmt.Errorf("%w: no %s device number %d (available: %s)", ErrNoDevice, kind, i, avail)
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i], nil
		}
	}
	for i := range list {
		if list[i].ID == name {
			return &list[i], nil
		}
	}
	var found *DeviceInfo
	for i := range list {
		if strings.Contains(strings.ToLower(list[i].Name), strings.ToLower(name)) {
			if found != nil {
				return nil, fmt.Errorf("%w: %s device name %q is ambiguous (available: %s)", ErrNoDevice, kind, name, avail)
			}
			found = &list[i]
		}
	}
	if found == nil {
		return nil, unmatchedError{fmt.Errorf("%w: no %s device matches %q (available: %s)", ErrNoDevice, kind, name, avail)}
	}
	return found, nil
}

// unmatchedError is matchDevice's error when no listed device has the name
// or ID: the caller may still try the name as a backend ID (an ALSA PCM
// without a hint, "plughw:1,0").
type unmatchedError struct{ err error }

func (e unmatchedError) Error() string { return e.err.Error() }
func (e unmatchedError) Unwrap() error { return e.err }

// sampleRing is a bounded FIFO of samples between a device callback and
// ReadFrame/WriteFrame. When full, writes drop the oldest samples.
type sampleRing struct {
	mu      sync.Mutex
	buf     []int16
	r, n    int
	closed  bool
	notify  chan struct{} // signalled after each write
	dropped uint64        // samples dropped because the ring was full
	short   uint64        // samples a reader wanted but did not find
	trimmed uint64        // samples dropped by trim
	minFill int           // smallest fill after a read in this trim window
	winLeft int           // samples to read before the next trim decision
}

func newSampleRing(size int) *sampleRing {
	return &sampleRing{buf: make([]int16, size), notify: make(chan struct{}, 1)}
}

// write appends p, dropping the oldest samples if it does not fit.
func (q *sampleRing) write(p []int16) {
	q.mu.Lock()
	if len(p) > len(q.buf) {
		q.dropped += uint64(len(p) - len(q.buf))
		p = p[len(p)-len(q.buf):]
	}
	if over := q.n + len(p) - len(q.buf); over > 0 {
		q.r = (q.r + over) % len(q.buf)
		q.n -= over
		q.dropped += uint64(over)
	}
	w := (q.r + q.n) % len(q.buf)
	c := copy(q.buf[w:], p)
	copy(q.buf, p[c:])
	q.n += len(p)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// readAvailable copies up to len(p) samples and returns how many.
func (q *sampleRing) readAvailable(p []int16) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.readLocked(p)
}

func (q *sampleRing) readLocked(p []int16) int {
	k := min(len(p), q.n)
	c := copy(p[:k], q.buf[q.r:])
	copy(p[c:k], q.buf)
	q.r = (q.r + k) % len(q.buf)
	q.n -= k
	return k
}

// readFull blocks until len(p) samples are there and copies them, or
// returns ctx.Err() or ErrClosed.
func (q *sampleRing) readFull(ctx context.Context, p []int16) error {
	for {
		q.mu.Lock()
		switch {
		case q.closed:
			q.mu.Unlock()
			return ErrClosed
		case q.n >= len(p):
			q.readLocked(p)
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// trimLocked notes the fill level after a read of n samples and, at the
// end of each trimWindow, drops the oldest samples down to keep when the
// smallest fill over the window was above trimAbove: a backlog that never
// drained is latency, whether a stall or clock drift put it there.
func (q *sampleRing) trimLocked(n, keep, trimAbove int) {
	if q.winLeft <= 0 {
		q.winLeft, q.minFill = trimWindow, q.n
	}
	q.minFill = min(q.minFill, q.n)
	q.winLeft -= n
	if q.winLeft > 0 {
		return
	}
	if q.minFill > trimAbove {
		drop := q.minFill - keep
		q.r = (q.r + drop) % len(q.buf)
		q.n -= drop
		q.trimmed += uint64(drop)
	}
	q.winLeft = 0
}

// trim is trimLocked under the lock.
func (q *sampleRing) trim(n, keep, trimAbove int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trimLocked(n, keep, trimAbove)
}

// discardBacklog drops all but the newest keep samples.
func (q *sampleRing) discardBacklog(keep int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if over := q.n - keep; over > 0 {
		q.r = (q.r + over) % len(q.buf)
		q.n -= over
		q.trimmed += uint64(over)
	}
}

// close wakes a blocked reader and makes later reads fail.
func (q *sampleRing) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// isClosed reports whether close was called.
func (q *sampleRing) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
