package runner

import (
	"math"
	"testing"
	"time"
)

func TestDetectFindsDelayedChirps(t *testing.T) {
	tr := DefaultChirpTrain
	src, starts := tr.Render(6 * time.Second)
	// The recording starts 100 ms after the source; each chirp arrives
	// 173.25 ms after it was captured, with some noise and gain.
	recStart := samples(100 * time.Millisecond)
	delay := int(0.17325 * SampleRate)
	rec := make([]int16, len(src))
	for i, v := range src {
		j := i + delay - recStart
		if j >= 0 && j < len(rec) {
			rec[j] = int16(float64(v) * 0.7)
		}
	}
	for i := range rec {
		rec[i] += int16(200 * math.Sin(float64(i)))
	}
	dets := Detect(rec, tr.Chirp(), starts, -recStart, samples(900*time.Millisecond))
	if len(dets) != len(starts) {
		t.Fatalf("got %d detections for %d chirps", len(dets), len(starts))
	}
	for _, d := range dets {
		if !d.Found {
			t.Errorf("chirp %d not found (score %.2f)", d.Index, d.Score)
			continue
		}
		// delay = recording offset + recording start − source offset
		got := d.Offset + 100*time.Millisecond - d.SourceAt
		if diff := got - 173250*time.Microsecond; diff < -50*time.Microsecond || diff > 50*time.Microsecond {
			t.Errorf("chirp %d: delay %v, want 173.25ms", d.Index, got)
		}
	}
}

func TestDetectMissingChirp(t *testing.T) {
	tr := DefaultChirpTrain
	src, starts := tr.Render(3 * time.Second)
	rec := make([]int16, len(src))
	copy(rec, src)
	for i := starts[1]; i < starts[1]+samples(tr.Length); i++ {
		rec[i] = 0
	}
	dets := Detect(rec, tr.Chirp(), starts, 0, samples(900*time.Millisecond))
	if !dets[0].Found || dets[1].Found || !dets[2].Found {
		t.Fatalf("found %v %v %v, want true false true", dets[0].Found, dets[1].Found, dets[2].Found)
	}
}

func TestFindGaps(t *testing.T) {
	rec := make([]int16, 3*SampleRate)
	for i := range rec {
		rec[i] = int16(10000 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate))
	}
	for i := SampleRate; i < SampleRate+SampleRate/2; i++ {
		rec[i] = 0
	}
	gaps := FindGaps(rec, 0.1, 100*time.Millisecond)
	if len(gaps) != 1 || gaps[0].At != time.Second || gaps[0].Length != 500*time.Millisecond {
		t.Fatalf("gaps %+v, want one at 1s of 500ms", gaps)
	}
}

func TestEModelMOS(t *testing.T) {
	if m := EModelMOS(150, 5, 0); m < 4.2 || m > 4.4 {
		t.Errorf("MOS(150 ms) = %.2f", m)
	}
	if m := EModelMOS(400, 5, 0); m > 3.9 {
		t.Errorf("MOS(400 ms) = %.2f", m)
	}
}
