package history

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

func entry(o Outcome, start time.Time) Entry {
	e := Entry{Direction: Incoming, Peer: lokinettest.RandomAddress().String(), Start: start.UTC().Truncate(time.Millisecond),
		End: start.UTC().Truncate(time.Millisecond).Add(30 * time.Second), Outcome: o}
	if o == Completed {
		e.DurationMS = 25000
		e.Quality = &Quality{MOS: 4.2, RTTMS: 180, JitterMS: 3.5, LossPercent: 0.4, Interruptions: 1}
	}
	return e
}

func TestAppendLoad(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), "state", "lokicall", FileName)}
	if got, err := s.Load(); got != nil || err != nil {
		t.Fatalf("Load of a missing file = %v, %v; want an empty history", got, err)
	}
	now := time.Now()
	want := []Entry{entry(Completed, now), entry(Missed, now.Add(time.Minute)), entry(Busy, now.Add(2*time.Minute))}
	want[1].Reason = "timeout"
	for _, e := range want {
		if err := s.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v\nwant %+v", got, err, want)
	}
	for path, mode := range map[string]os.FileMode{s.Path: 0o600, filepath.Dir(s.Path): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode(), err, mode)
		}
	}
	if !got[1].IsMissed() || !got[2].IsMissed() || got[0].IsMissed() {
		t.Error("IsMissed: want the missed and busy incoming calls only")
	}
}

// TestReadSkipsBadLines: a cut-short or edited line costs that line only,
// and the error says which.
func TestReadSkipsBadLines(t *testing.T) {
	good, err := Encode(entry(Completed, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		string(good),
		string(good[:len(good)/2]),
		"",
		`{"direction":"incoming","peer":"127.0.0.1","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:01Z","outcome":"missed"}`,
		string(good) + `{}`,
		strings.Repeat("x", MaxLineSize+10),
		string(good),
	}, "\n")
	got, err := Read(strings.NewReader(in))
	if len(got) != 2 {
		t.Errorf("Read kept %d entries, want the 2 good ones", len(got))
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Read error %v, want ErrMalformed", err)
	}
	for _, n := range []string{"line 2:", "line 4:", "line 5:", "line 6:"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error does not name %s: %v", n, err)
		}
	}
	if strings.Contains(err.Error(), "line 3:") || strings.Contains(err.Error(), "line 7:") {
		t.Errorf("error names a good or blank line: %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := entry(Completed, time.Now())
	for name, edit := range map[string]func(*Entry){
		"IP as peer":         func(e *Entry) { e.Peer = "172.16.0.1" },
		"peer not canonical": func(e *Entry) { e.Peer = strings.ToUpper(e.Peer) },
		"direction":          func(e *Entry) { e.Direction = "sideways" },
		"outcome":            func(e *Entry) { e.Outcome = "great" },
		"end before start":   func(e *Entry) { e.End = e.Start.Add(-time.Second) },
		"no start":           func(e *Entry) { e.Start = time.Time{} },
		"duration too long":  func(e *Entry) { e.DurationMS = 10 * 60 * 1000 },
		"reason control":     func(e *Entry) { e.Reason = "a\nb" },
		"mos":                func(e *Entry) { e.Quality.MOS = 7 },
		"loss":               func(e *Entry) { e.Quality.LossPercent = -1 },
	} {
		e := base
		q := *base.Quality
		e.Quality = &q
		edit(&e)
		if err := e.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Validate = %v, want ErrMalformed", name, err)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("a good entry: %v", err)
	}
}

// TestAppendTrims: past MaxSize the file keeps the newest entries in half
// of it.
func TestAppendTrims(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), FileName), MaxSize: 4096}
	start := time.Now()
	var last Entry
	for i := range 60 {
		last = entry(Missed, start.Add(time.Duration(i)*time.Minute))
		if err := s.Append(last); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(s.Path)
	if err != nil || fi.Size() > s.MaxSize {
		t.Fatalf("file is %d bytes (%v), want at most %d", fi.Size(), err, s.MaxSize)
	}
	got, err := s.Load()
	if err != nil || len(got) == 0 || len(got) >= 60 || !reflect.DeepEqual(got[len(got)-1], last) {
		t.Fatalf("after trimming: %d entries, %v; want fewer than 60 ending with the newest", len(got), err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Start.Before(got[i-1].Start) {
			t.Fatalf("entries out of order after trimming at %d", i)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/tmp/state")
	if p, err := DefaultPath(); err != nil || p != "/tmp/state/lokicall/history.jsonl" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/x")
	if p, err := DefaultPath(); err != nil || p != "/home/x/.local/state/lokicall/history.jsonl" {
		t.Errorf("DefaultPath without XDG_STATE_HOME = %q, %v", p, err)
	}
}

// FuzzRead checks that Read never panics, keeps no more entries than lines,
// and that every entry it keeps is valid and survives a round trip.
func FuzzRead(f *testing.F) {
	good, _ := Encode(entry(Completed, time.Unix(1_700_000_000, 0)))
	miss, _ := Encode(entry(Missed, time.Unix(1_700_000_100, 0)))
	f.Add(append(append(good, '\n'), miss...))
	f.Add(good[:40])
	f.Add([]byte(`{"direction":"outgoing","peer":"x.loki","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:00Z","outcome":"busy","quality":{"mos":1e400}}`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, _ := Read(bytes.NewReader(b))
		if len(entries) > bytes.Count(b, []byte("\n"))+1 {
			t.Fatalf("%d entries from %d lines", len(entries), bytes.Count(b, []byte("\n"))+1)
		}
		for _, e := range entries {
			line, err := Encode(e)
			if err != nil {
				t.Fatalf("Read kept %+v, which Encode refuses: %v", e, err)
			}
			e2, err := Decode(line)
			if err != nil || !reflect.DeepEqual(e, e2) {
				t.Fatalf("round trip: %+v -> %s -> %+v, %v", e, line, e2, err)
			}
		}
	})
}
