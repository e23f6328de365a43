package measure

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lokicall/lokicall/media"
)

// Stamp says when the frame of Samples samples that starts at stream sample
// Sample was captured (handed to the encoder) or played (written to the
// sink), on the wall clock.
type Stamp struct {
	Sample  int64
	Samples int
	Time    time.Time
}

// stampHeader is the first line of a stamps CSV file.
const stampHeader = "sample,samples,unix_ns"

// WriteStamps writes stamps as CSV: a header line, then sample, samples and
// Unix nanoseconds per frame.
func WriteStamps(w io.Writer, stamps []Stamp) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, stampHeader)
	for _, s := range stamps {
		fmt.Fprintf(bw, "%d,%d,%d\n", s.Sample, s.Samples, s.Time.UnixNano())
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("measure: write stamps: %w", err)
	}
	return nil
}

// ErrBadStamps reports a stamps file that ReadStamps cannot parse.
var ErrBadStamps = errors.New("measure: bad stamps file")

// ReadStamps reads stamps written by WriteStamps or by a tap's stamp log.
func ReadStamps(r io.Reader) ([]Stamp, error) {
	sc := bufio.NewScanner(r)
	var out []Stamp
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || (line == 1 && text == stampHeader) {
			continue
		}
		f := strings.Split(text, ",")
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %d: %d fields, want 3", ErrBadStamps, line, len(f))
		}
		sample, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.Atoi(f[1])
		ns, err3 := strconv.ParseInt(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: line %d: %q", ErrBadStamps, line, text)
		}
		out = append(out, Stamp{Sample: sample, Samples: n, Time: time.Unix(0, ns)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("measure: read stamps: %w", err)
	}
	return out, nil
}

// SidecarPath returns where the stamps of an audio file are kept: the path
// with ".wav" replaced by ".stamps.csv".
func SidecarPath(audioPath string) string {
	return strings.TrimSuffix(audioPath, ".wav") + ".stamps.csv"
}

// stampLog collects stamps and, if a writer is set, streams them as CSV.
type stampLog struct {
	mu     sync.Mutex
	stamps []Stamp
	w      *bufio.Writer
	err    error
	pos    int64
	now    func() time.Time
}

func newStampLog(w io.Writer, now func() time.Time) *stampLog {
	l := &stampLog{now: now}
	if l.now == nil {
		l.now = time.Now
	}
	if w != nil {
		l.w = bufio.NewWriter(w)
		_, l.err = fmt.Fprintln(l.w, stampHeader)
	}
	return l
}

// add stamps a frame of n samples at t.
func (l *stampLog) add(n int, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stamp{Sample: l.pos, Samples: n, Time: t}
	l.pos += int64(n)
	l.stamps = append(l.stamps, s)
	if l.w != nil && l.err == nil {
		_, l.err = fmt.Fprintf(l.w, "%d,%d,%d\n", s.Sample, s.Samples, s.Time.UnixNano())
	}
}

func (l *stampLog) snapshot() []Stamp {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Stamp(nil), l.stamps...)
}

func (l *stampLog) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil && l.err == nil {
		l.err = l.w.Flush()
	}
	if l.err != nil {
		return fmt.Errorf("measure: write stamps: %w", l.err)
	}
	return nil
}

// Capture is a media.Source that passes its inner source's frames through
// and stamps each with the time ReadFrame returned it, the moment the sender
// hands it to the encoder. As for a microphone, the last sample of a frame
// counts as captured at its stamp.
type Capture struct {
	inner media.Source
	log   *stampLog
}

// NewCapture wraps src. If w is not nil the stamps are also streamed to it
// as CSV (flushed by Close, which does not close w). now is the clock; nil:
// time.Now.
func NewCapture(src media.Source, w io.Writer, now func() time.Time) *Capture {
	return &Capture{inner: src, log: newStampLog(w, now)}
}

// ReadFrame reads from the inner source and stamps the frame.
func (c *Capture) ReadFrame(ctx context.Context, pcm []int16) error {
	if err := c.inner.ReadFrame(ctx, pcm); err != nil {
		return err
	}
	c.log.add(len(pcm), c.log.now())
	return nil
}

// Clocked reports whether the inner source is clocked.
func (c *Capture) Clocked() bool { return media.Clocked(c.inner) }

// Stamps returns the stamps so far.
func (c *Capture) Stamps() []Stamp { return c.log.snapshot() }

// Close closes the inner source and flushes the stamps.
func (c *Capture) Close() error { return errors.Join(c.inner.Close(), c.log.flush()) }

// Playout is a media.Sink that passes frames to its inner sink and stamps
// each with the time WriteFrame was called; sample i of a frame counts as
// played i samples after its stamp. A device sink adds its own output
// latency, which the stamps do not see. If Record was asked for, it also
// keeps the audio for Analyze.
type Playout struct {
	inner  media.Sink
	log    *stampLog
	mu     sync.Mutex
	record bool
	pcm    []int16
}

// NewPlayout wraps sink; record keeps a copy of the audio in memory. If w is
// not nil the stamps are also streamed to it as CSV (flushed by Close, which
// does not close w). now is the clock; nil: time.Now.
func NewPlayout(sink media.Sink, record bool, w io.Writer, now func() time.Time) *Playout {
	return &Playout{inner: sink, log: newStampLog(w, now), record: record}
}

// WriteFrame stamps the frame and writes it to the inner sink.
func (p *Playout) WriteFrame(pcm []int16) error {
	t := p.log.now()
	if err := p.inner.WriteFrame(pcm); err != nil {
		return err
	}
	p.log.add(len(pcm), t)
	if p.record {
		p.mu.Lock()
		p.pcm = append(p.pcm, pcm...)
		p.mu.Unlock()
	}
	return nil
}

// Stamps returns the stamps so far.
func (p *Playout) Stamps() []Stamp { return p.log.snapshot() }

// Samples returns a copy of the recorded audio (empty unless recording).
func (p *Playout) Samples() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.pcm...)
}

// Close closes the inner sink and flushes the stamps.
func (p *Playout) Close() error { return errors.Join(p.inner.Close(), p.log.flush()) }

// ClickSource returns a function for call.Config.WrapSource that replaces
// the call's source by a click train shaped by cfg (closing the original)
// and stamps its capture; the stamps go to w as CSV if w is not nil, and
// *tap, if tap is not nil, is set to the Capture for in-process analysis.
func ClickSource(cfg ClickConfig, w io.Writer, tap **Capture) func(media.Source) media.Source {
	return func(orig media.Source) media.Source {
		c := NewCapture(&replaced{Source: NewClickTrain(cfg), orig: orig}, w, nil)
		if tap != nil {
			*tap = c
		}
		return c
	}
}

// PlayoutTap returns a function for call.Config.WrapSink that stamps the
// call's playout; the stamps go to w as CSV if w is not nil (for a WAV sink,
// write them to SidecarPath of its path), and *tap, if tap is not nil, is set
// to the Playout, which records the audio when record is true.
func PlayoutTap(record bool, w io.Writer, tap **Playout) func(media.Sink) media.Sink {
	return func(sink media.Sink) media.Sink {
		p := NewPlayout(sink, record, w, nil)
		if tap != nil {
			*tap = p
		}
		return p
	}
}

// replaced is a source that stands in for orig, closing both.
type replaced struct {
	media.Source
	orig media.Source
}

func (r *replaced) Close() error { return errors.Join(r.Source.Close(), r.orig.Close()) }
