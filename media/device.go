package media

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
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
	Kind    DeviceKind
	Index   int    // position in the list of its kind: device:INDEX selects it
	Name    string // device:NAME selects it (exact, else a unique case-insensitive substring)
	ID      string // backend-specific identifier, hex
	Default bool   // the system's default device of its kind
}

// deviceRingSeconds is how much audio a device ring buffer holds: the bound
// on capture backlog and on playback latency.
const deviceRingSamples = SampleRate / 5 // 200 ms

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
		return nil, fmt.Errorf("%w: no %s device matches %q (available: %s)", ErrNoDevice, kind, name, avail)
	}
	return found, nil
}

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
