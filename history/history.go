// Package history keeps the call history: one JSON object per line in a
// small file in the user's state directory ($XDG_STATE_HOME/lokicall/).
// An entry says who the peer was (its .loki address), when the call began
// and ended, how long audio flowed, how it ended and a summary of its
// quality; never audio, and never an IP address.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// FileName is the history file's name in its directory.
const FileName = "history.jsonl"

// MaxLineSize is the longest entry, in bytes, a reader accepts.
const MaxLineSize = 4 << 10

// DefaultMaxSize is the size past which Append trims the file to the newest
// entries filling half of it.
const DefaultMaxSize = 256 << 10

// maxReasonLen is the longest Reason, in bytes.
const maxReasonLen = 200

// ErrMalformed reports an entry that is not valid.
var ErrMalformed = errors.New("malformed history entry")

// Direction says who placed a call.
type Direction string

// The directions.
const (
	Outgoing Direction = "outgoing"
	Incoming Direction = "incoming"
)

// Outcome says how a call ended.
type Outcome string

// The outcomes.
const (
	// Completed: audio flowed and the call ended normally.
	Completed Outcome = "completed"
	// Missed: an incoming call nobody answered (it timed out or the caller
	// gave up while it rang).
	Missed Outcome = "missed"
	// Rejected: declined by the callee, a person or a policy.
	Rejected Outcome = "rejected"
	// Busy: the callee was in another call.
	Busy Outcome = "busy"
	// NoAnswer: an outgoing call nobody answered in time.
	NoAnswer Outcome = "no-answer"
	// Cancelled: the caller hung up before the call was answered.
	Cancelled Outcome = "cancelled"
	// Failed: anything else (unreachable, media failed, connection lost).
	Failed Outcome = "failed"
)

func (o Outcome) known() bool {
	switch o {
	case Completed, Missed, Rejected, Busy, NoAnswer, Cancelled, Failed:
		return true
	}
	return false
}

// Quality summarises a call that carried audio.
type Quality struct {
	// MOS is the E-model estimate, 1 to 5.
	MOS float64 `json:"mos"`
	// RTTMS is the round trip, in milliseconds.
	RTTMS float64 `json:"rtt_ms"`
	// JitterMS is the interarrival jitter, in milliseconds.
	JitterMS float64 `json:"jitter_ms"`
	// LossPercent is the share of packets lost, 0 to 100.
	LossPercent float64 `json:"loss_percent"`
	// Interruptions counts the times audio stopped for a while.
	Interruptions int `json:"interruptions"`
}

// Entry is one call.
type Entry struct {
	// Direction is outgoing or incoming.
	Direction Direction `json:"direction"`
	// Peer is the other side's .loki address in canonical form.
	Peer string `json:"peer"`
	// Start is when the call was placed or arrived; End when it ended.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// DurationMS is how long audio flowed, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Outcome is how it ended; Reason the protocol's reason, if any.
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason,omitempty"`
	// Quality summarises a call that carried audio.
	Quality *Quality `json:"quality,omitempty"`
}

// Duration returns how long audio flowed.
func (e Entry) Duration() time.Duration { return time.Duration(e.DurationMS) * time.Millisecond }

// IsMissed reports an incoming call nobody took: missed, or turned away
// as busy.
func (e Entry) IsMissed() bool {
	return e.Direction == Incoming && (e.Outcome == Missed || e.Outcome == Busy)
}

// Validate reports what, if anything, makes e unfit for the file.
func (e Entry) Validate() error {
	if e.Direction != Outgoing && e.Direction != Incoming {
		return fmt.Errorf("%w: direction %q: want outgoing or incoming", ErrMalformed, e.Direction)
	}
	a, err := lokinet.ParseAddress(e.Peer)
	if err != nil {
		return fmt.Errorf("%w: peer: %w", ErrMalformed, err)
	}
	if a.String() != e.Peer {
		return fmt.Errorf("%w: peer %q is not in canonical form", ErrMalformed, e.Peer)
	}
	if e.Start.IsZero() || e.End.Before(e.Start) {
		return fmt.Errorf("%w: start %v and end %v: want a start, and the end not before it", ErrMalformed, e.Start, e.End)
	}
	if e.DurationMS < 0 || e.DurationMS > e.End.Sub(e.Start).Milliseconds()+1000 {
		return fmt.Errorf("%w: duration_ms %d: want 0 to the call's length", ErrMalformed, e.DurationMS)
	}
	if !e.Outcome.known() {
		return fmt.Errorf("%w: outcome %q", ErrMalformed, e.Outcome)
	}
	if len(e.Reason) > maxReasonLen {
		return fmt.Errorf("%w: reason: %d bytes, limit %d", ErrMalformed, len(e.Reason), maxReasonLen)
	}
	for i := 0; i < len(e.Reason); i++ {
		if c := e.Reason[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: reason: byte %d (%#02x) is not printable ASCII", ErrMalformed, i+1, c)
		}
	}
	if q := e.Quality; q != nil {
		for _, f := range []struct {
			name     string
			v, lo, h float64
		}{
			{"mos", q.MOS, 0, 5}, {"rtt_ms", q.RTTMS, 0, 3.6e6}, {"jitter_ms", q.JitterMS, 0, 3.6e6},
			{"loss_percent", q.LossPercent, 0, 100}, {"interruptions", float64(q.Interruptions), 0, 1e6},
		} {
			if math.IsNaN(f.v) || f.v < f.lo || f.v > f.h {
				return fmt.Errorf("%w: quality.%s %v: want %v to %v", ErrMalformed, f.name, f.v, f.lo, f.h)
			}
		}
	}
	return nil
}

// Encode validates e and returns its line, without the newline.
func Encode(e Entry) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("history: encode: %w", err)
	}
	if len(b) > MaxLineSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxLineSize)
	}
	return b, nil
}

// Decode parses one line strictly: one JSON object with only Entry's
// fields, valid as Validate says.
func Decode(line []byte) (Entry, error) {
	var e Entry
	if len(line) > MaxLineSize {
		return e, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(line), MaxLineSize)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.More() {
		return Entry{}, fmt.Errorf("%w: data after the entry", ErrMalformed)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	// One form for every instant, whatever offset the line was written with.
	e.Start, e.End = e.Start.UTC(), e.End.UTC()
	return e, nil
}

// Read returns the entries of a history in file order. Lines that are not
// valid entries (a write cut short, a hand edit) are skipped; the error
// then names each, wrapping ErrMalformed, next to the entries that were
// good. Blank lines are ignored.
func Read(r io.Reader) ([]Entry, error) {
	br := bufio.NewReaderSize(r, MaxLineSize+1)
	var (
		out  []Entry
		errs []error
	)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		long := errors.Is(err, bufio.ErrBufferFull)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n') // skip the rest of an over-long line
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return out, errors.Join(append(errs, fmt.Errorf("history: line %d: %w", n, err))...)
		}
		switch trimmed := bytes.TrimSpace(line); {
		case long:
			errs = append(errs, fmt.Errorf("history: line %d: %w: longer than %d bytes", n, ErrMalformed, MaxLineSize))
		case len(trimmed) > 0:
			e, derr := Decode(trimmed)
			if derr != nil {
				errs = append(errs, fmt.Errorf("history: line %d: %w", n, derr))
			} else {
				out = append(out, e)
			}
		}
		if err != nil { // io.EOF
			return out, errors.Join(errs...)
		}
	}
}

// DefaultPath returns $XDG_STATE_HOME/lokicall/history.jsonl, or
// ~/.local/state/lokicall/history.jsonl when XDG_STATE_HOME is not set.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("history: no state directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "lokicall", FileName), nil
}

// Store is a history file.
type Store struct {
	// Path is the file; its directory is created (mode 0700) as needed.
	Path string
	// MaxSize is the size past which Append trims the file to the newest
	// entries filling half of it; 0 means DefaultMaxSize.
	MaxSize int64
}

// Append adds e at the end of the file (mode 0600), in one write, and
// trims the file when it has grown past MaxSize.
func (s Store) Append(e Entry) error {
	line, err := Encode(e)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	f, err := os.OpenFile(s.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	info, serr := f.Stat()
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("history: append to %s: %w", s.Path, werr)
	}
	max := s.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	if serr == nil && info.Size() > max {
		return s.trim(max / 2)
	}
	return nil
}

// Load reads the file; a file that does not exist is an empty history.
// Like Read, it returns the good entries next to an error naming bad lines.
func (s Store) Load() ([]Entry, error) {
	f, err := os.Open(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	entries, err := Read(f)
	if err != nil {
		return entries, fmt.Errorf("%s: %w", s.Path, err)
	}
	return entries, nil
}

// trim rewrites the file with the newest entries that fit in size bytes,
// replacing it atomically (a temporary file in the same directory, then
// rename).
func (s Store) trim(size int64) error {
	entries, _ := s.Load() // bad lines are dropped here
	var (
		lines [][]byte
		total int64
	)
	for i := len(entries) - 1; i >= 0; i-- {
		b, err := Encode(entries[i])
		if err != nil {
			continue
		}
		if total+int64(len(b))+1 > size {
			break
		}
		total += int64(len(b)) + 1
		lines = append(lines, b)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.Path), ".history-*")
	if err != nil {
		return fmt.Errorf("history: trim: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	for i := len(lines) - 1; i >= 0; i-- {
		_, _ = w.Write(lines[i])
		_ = w.WriteByte('\n')
	}
	err = w.Flush()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.Path)
	}
	if err != nil {
		return fmt.Errorf("history: trim %s: %w", s.Path, err)
	}
	return nil
}
