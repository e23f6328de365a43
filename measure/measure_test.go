package measure_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lokicall/lokicall/measure"
	"github.com/lokicall/lokicall/media"
)

// synth captures frames of a click train on a fake clock (frame f handed
// over at t0 + (f+1) frames, like a microphone), delays the audio by shift
// samples, optionally passes it through Opus, and plays it out on the same
// clock from t1. It returns the capture tap and the playout tap.
func synth(t *testing.T, cfg measure.ClickConfig, frames, frameSamples, shift int, codec bool, t0, t1 time.Time) (*measure.Capture, *measure.Playout) {
	t.Helper()
	now := t0
	capture := measure.NewCapture(measure.NewClickTrain(cfg), nil, func() time.Time { return now })
	var src []int16
	pcm := make([]int16, frameSamples)
	for f := range frames {
		now = t0.Add(time.Duration(f+1) * time.Duration(frameSamples) * time.Second / media.SampleRate)
		if err := capture.ReadFrame(context.Background(), pcm); err != nil {
			t.Fatal(err)
		}
		src = append(src, pcm...)
	}
	out := append(make([]int16, shift), src...)[:len(src)]
	if codec {
		enc, err := media.NewEncoder(media.EncoderConfig{FrameDuration: time.Duration(frameSamples) * time.Second / media.SampleRate})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := media.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+frameSamples <= len(out); i += frameSamples {
			pkt, err := enc.Encode(out[i : i+frameSamples])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dec.Decode(pkt, out[i:i+frameSamples]); err != nil {
				t.Fatal(err)
			}
		}
	}
	var play *measure.Playout
	play = measure.NewPlayout(nopSink{}, true, nil, func() time.Time { return now })
	for g := 0; g+frameSamples <= len(out); g += frameSamples {
		now = t1.Add(time.Duration(g) * time.Second / media.SampleRate)
		if err := play.WriteFrame(out[g : g+frameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	return capture, play
}

type nopSink struct{}

func (nopSink) WriteFrame([]int16) error { return nil }
func (nopSink) Close() error             { return nil }

func TestAnalyzeKnownDelay(t *testing.T) {
	cfg := measure.ClickConfig{Period: 300 * time.Millisecond}
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name  string
		shift int
		gap   time.Duration
		codec bool
	}{
		{"audio shift only", 1234, 0, false},
		{"clock gap only", 0, 47 * time.Millisecond, false},
		{"both", 480, 100 * time.Millisecond, false},
		{"through Opus", 480, 20 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capture, play := synth(t, cfg, 150, 960, tc.shift, tc.codec, t0, t0.Add(tc.gap))
			res, err := measure.Analyze(cfg, capture.Stamps(), play.Samples(), play.Stamps())
			if err != nil {
				t.Fatal(err)
			}
			want := tc.gap + time.Duration(tc.shift)*time.Second/media.SampleRate
			if tc.codec {
				want += measure.OpusLookahead
			}
			s := measure.Summarize(res.Delays(0))
			t.Logf("%d clicks, missing %d, extra %d: %+v (want %v)", s.N, res.Missing, res.Extra, s, want)
			if s.N < 8 || res.Missing != 0 {
				t.Errorf("found %d clicks, missing %d", s.N, res.Missing)
			}
			tol := 50 * time.Microsecond
			if tc.codec {
				tol = time.Millisecond
			}
			if d := s.Min - want; d < -tol || d > tol {
				t.Errorf("min delay %v, want %v", s.Min, want)
			}
			if d := s.Max - want; d < -tol || d > tol {
				t.Errorf("max delay %v, want %v", s.Max, want)
			}
		})
	}
}

func TestAnalyzeNoClicks(t *testing.T) {
	now := time.Unix(0, 0)
	st := []measure.Stamp{{Sample: 0, Samples: 48000, Time: now}}
	if _, err := measure.Analyze(measure.ClickConfig{}, st, make([]int16, 48000), st); !errors.Is(err, measure.ErrNoClicks) {
		t.Errorf("silence: %v, want ErrNoClicks", err)
	}
}

// TestAnalyzeFiles runs the cross-process form: stamps streamed as CSV, the
// playout recorded to a WAV file.
func TestAnalyzeFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := measure.ClickConfig{Period: 500 * time.Millisecond}
	t0 := time.Unix(2000, 0)
	capture, play := synth(t, cfg, 300, 480, 960, false, t0, t0.Add(30*time.Millisecond))
	wav := filepath.Join(dir, "out.wav")
	sink, err := media.CreateWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	var pb bytes.Buffer
	tap := measure.NewPlayout(sink, false, &pb, nil)
	pcm := play.Samples()
	for i := 0; i < len(pcm); i += 480 {
		if err := tap.WriteFrame(pcm[i : i+480]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tap.Close(); err != nil {
		t.Fatal(err)
	}
	// Replace the real-time stamps by the synthetic ones, through CSV.
	write := func(name string, st []measure.Stamp) string {
		var b bytes.Buffer
		if err := measure.WriteStamps(&b, st); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, err := measure.ReadStamps(&pb); err != nil || len(got) != len(play.Stamps()) {
		t.Fatalf("streamed stamps: %d, %v; want %d", len(got), err, len(play.Stamps()))
	}
	res, err := measure.AnalyzeFiles(cfg, write("capture.csv", capture.Stamps()), wav, write(filepath.Base(measure.SidecarPath(wav)), play.Stamps()))
	if err != nil {
		t.Fatal(err)
	}
	s := measure.Summarize(res.Delays(0))
	if want := 50 * time.Millisecond; s.N < 5 || s.Median < want-time.Millisecond/10 || s.Median > want+time.Millisecond/10 {
		t.Errorf("delay %+v, want %v", s, want)
	}
	if _, err := measure.ReadStamps(bytes.NewBufferString("1,2\n")); !errors.Is(err, measure.ErrBadStamps) {
		t.Errorf("bad stamps: %v", err)
	}
}
