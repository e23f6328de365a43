package onion

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// traceHeader is the first line of a trace file (testnet/traces/README.md).
const traceHeader = "seq,send_s,rtt_ms"

// maxTraceRows bounds a trace file: a day at 50 packets/s.
const maxTraceRows = 50 * 86400

// Trace is a measured round-trip trace, replayed as per-packet one-way
// delay (half the round trip) and loss.
type Trace struct {
	send   []time.Duration // send time of each probe, non-decreasing
	rtt    []time.Duration // its round trip; -1 if no reply came
	length time.Duration   // the time after which the replay loops
}

// LoadTrace reads a trace file.
func LoadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onion: trace: %w", err)
	}
	defer f.Close()
	t, err := ParseTrace(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTrace reads a trace in the CSV format `seq,send_s,rtt_ms` (a header
// line, then one probe per line: its sequence number, its send time in
// seconds since the first, and its round trip in milliseconds, empty when
// no reply came). Sequence numbers must count up from 0 and the send
// times of answered probes must not decrease. A lost probe's send time is
// nominal in the measured traces (seq × 0.02 s, which drifts from the real
// clock), so it is placed between its answered neighbours instead.
func ParseTrace(r io.Reader) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: trace: %w", ErrBadTrace, err)
		}
		return nil, fmt.Errorf("%w: trace: empty", ErrBadTrace)
	}
	if h := strings.TrimSpace(sc.Text()); h != traceHeader {
		return nil, fmt.Errorf("%w: trace header %q, want %q", ErrBadTrace, h, traceHeader)
	}
	t := &Trace{}
	replies := 0
	var lastReplied time.Duration
	for line := 2; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if len(t.send) >= maxTraceRows {
			return nil, fmt.Errorf("%w: trace: more than %d rows", ErrBadTrace, maxTraceRows)
		}
		f := strings.Split(text, ",")
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: trace line %d: %d fields, want 3", ErrBadTrace, line, len(f))
		}
		seq, err := strconv.Atoi(f[0])
		if err != nil || seq != len(t.send) {
			return nil, fmt.Errorf("%w: trace line %d: seq %q, want %d", ErrBadTrace, line, f[0], len(t.send))
		}
		s, err := strconv.ParseFloat(f[1], 64)
		if err != nil || math.IsNaN(s) || s < 0 || s > 86400*365 {
			return nil, fmt.Errorf("%w: trace line %d: send_s %q", ErrBadTrace, line, f[1])
		}
		send := time.Duration(s * float64(time.Second))
		rtt := time.Duration(-1)
		if f[2] != "" {
			ms, err := strconv.ParseFloat(f[2], 64)
			if err != nil || math.IsNaN(ms) || ms < 0 || ms > 3600e3 {
				return nil, fmt.Errorf("%w: trace line %d: rtt_ms %q", ErrBadTrace, line, f[2])
			}
			rtt = time.Duration(ms * float64(time.Millisecond))
			if replies > 0 && send < lastReplied {
				return nil, fmt.Errorf("%w: trace line %d: send_s %q goes back in time", ErrBadTrace, line, f[1])
			}
			lastReplied = send
			replies++
		}
		t.send = append(t.send, send)
		t.rtt = append(t.rtt, rtt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: trace: %w", ErrBadTrace, err)
	}
	if replies == 0 {
		return nil, fmt.Errorf("%w: trace has no reply", ErrBadTrace)
	}
	t.placeLost()
	n := len(t.send)
	// The replay loops one mean probe spacing after the last probe.
	t.length = t.send[n-1] + max(t.send[n-1]/time.Duration(max(n-1, 1)), time.Millisecond)
	return t, nil
}

// placeLost moves the send time of each lost probe between those of the
// answered probes around it (evenly, for a run of losses), or next to the
// nearest one at either end of the trace.
func (t *Trace) placeLost() {
	n := len(t.send)
	for i := 0; i < n; {
		if t.rtt[i] >= 0 {
			i++
			continue
		}
		j := i
		for j < n && t.rtt[j] < 0 {
			j++
		}
		// Lost run [i, j); answered probes at i-1 (if i > 0) and j (if j < n).
		switch {
		case i > 0 && j < n:
			a, b := t.send[i-1], t.send[j]
			for k := i; k < j; k++ {
				t.send[k] = a + (b-a)*time.Duration(k-i+1)/time.Duration(j-i+1)
			}
		case j < n:
			for k := i; k < j; k++ {
				t.send[k] = min(t.send[k], t.send[j])
			}
		default:
			for k := i; k < j; k++ {
				t.send[k] = max(t.send[k], t.send[i-1])
			}
		}
		for k := max(i, 1); k < j; k++ {
			t.send[k] = max(t.send[k], t.send[k-1])
		}
		i = j
	}
}

// Len is the number of probes in the trace.
func (t *Trace) Len() int { return len(t.send) }

// Length is the time the trace covers; the replay loops after it.
func (t *Trace) Length() time.Duration { return t.length }

// OneWay returns the one-way delay (half the round trip) and loss of the
// probe sent last at or before since (taken modulo Length).
func (t *Trace) OneWay(since time.Duration) (time.Duration, bool) {
	at := since % t.length
	if at < 0 {
		at += t.length
	}
	i, found := slices.BinarySearch(t.send, at)
	if !found {
		i--
	}
	i = max(i, 0)
	if t.rtt[i] < 0 {
		return 0, true
	}
	return t.rtt[i] / 2, false
}

// RTTs returns the round trips of the probes that got a reply, in order.
func (t *Trace) RTTs() []time.Duration {
	out := make([]time.Duration, 0, len(t.rtt))
	for _, r := range t.rtt {
		if r >= 0 {
			out = append(out, r)
		}
	}
	return out
}

// traceReplay applies a trace to an endpoint's outgoing data: each packet
// waits the one-way delay of the trace at its send time, without
// overtaking the one before (a queue, as Lokinet's), or is dropped.
type traceReplay struct {
	trace *Trace
	start time.Time
	mu    sync.Mutex
	last  time.Time // delivery time of the previous packet
}

// schedule returns how long to wait before sending a packet now, or
// false if the trace loses it.
func (r *traceReplay) schedule(now time.Time) (time.Duration, bool) {
	d, lost := r.trace.OneWay(now.Sub(r.start))
	if lost {
		return 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	at := now.Add(d)
	if at.Before(r.last) {
		at = r.last
	}
	r.last = at
	return at.Sub(now), true
}
