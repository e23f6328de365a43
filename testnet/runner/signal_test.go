package runner

import (
	"math"
	"testing"
	"time"

	"github.com/lokicall/lokicall/measure"
)

func TestRenderClicksMatchesAnalyze(t *testing.T) {
	pcm, err := RenderClicks(DefaultClicks, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Captured in 20 ms frames from t0; each sample played 180 ms after capture.
	t0 := time.Unix(1700000000, 0)
	var capture, playout []measure.Stamp
	for i := 0; i < len(pcm); i += 960 {
		at := t0.Add(time.Duration(i+960) * time.Second / SampleRate)
		capture = append(capture, measure.Stamp{Sample: int64(i), Samples: 960, Time: at})
		playout = append(playout, measure.Stamp{Sample: int64(i), Samples: 960, Time: t0.Add(time.Duration(i)*time.Second/SampleRate + 180*time.Millisecond)})
	}
	res, err := measure.Analyze(DefaultClicks, capture, pcm, playout)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Clicks) != 4 {
		t.Fatalf("found %d clicks, want 4", len(res.Clicks))
	}
	for _, c := range res.Clicks {
		if d := c.Delay - 180*time.Millisecond; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("click %d: delay %v, want 180ms", c.Index, c.Delay)
		}
		if want := t0.Add(time.Duration(DefaultClicks.Position(c.Index) * int64(time.Second) / SampleRate)); !c.Captured.Equal(want) {
			t.Errorf("click %d captured %v, want %v", c.Index, c.Captured, want)
		}
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
	// Silent for most of its length (a long outage): still found.
	for i := SampleRate / 2; i < 5*SampleRate/2; i++ {
		rec[i] = 0
	}
	gaps = FindGaps(rec, 0.1, 100*time.Millisecond)
	if len(gaps) != 1 || gaps[0].At != 500*time.Millisecond || gaps[0].Length != 2*time.Second {
		t.Fatalf("gaps %+v, want one at 0.5s of 2s", gaps)
	}
}
