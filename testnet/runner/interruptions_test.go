package runner

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lokicall/lokicall/measure"
	"github.com/lokicall/lokicall/testnet/onion"
)

// TestRecordingGaps: a tone with a 300 ms hole, played from a known wall
// time, gives one gap at the hole's wall-clock time; holes less than a
// second apart are one.
func TestRecordingGaps(t *testing.T) {
	dir := t.TempDir()
	const frame = SampleRate / 50
	pcm := make([]int16, 10*SampleRate)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate))
	}
	hole := func(from, to time.Duration) {
		for i := samples(from); i < samples(to); i++ {
			pcm[i] = 0
		}
	}
	hole(2*time.Second, 2300*time.Millisecond)
	hole(5*time.Second, 5200*time.Millisecond) // two holes 0.5 s apart: one gap
	hole(5700*time.Millisecond, 5800*time.Millisecond)
	wav := filepath.Join(dir, "rec.wav")
	if err := writeWAV(wav, pcm); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	var st []measure.Stamp
	for i := 0; i < len(pcm); i += frame {
		st = append(st, measure.Stamp{Sample: int64(i), Samples: frame, Time: start.Add(time.Duration(i) * time.Second / SampleRate)})
	}
	f, err := os.Create(filepath.Join(dir, "playout.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := measure.WriteStamps(f, st); err != nil {
		t.Fatal(err)
	}
	f.Close()
	gaps, err := recordingGaps(wav, filepath.Join(dir, "playout.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 2 {
		t.Fatalf("%d gaps %v, want 2", len(gaps), gaps)
	}
	near := func(got time.Time, want time.Duration) bool {
		return got.Sub(start.Add(want)).Abs() <= 20*time.Millisecond
	}
	if !near(gaps[0].from, 2*time.Second) || !near(gaps[0].to, 2300*time.Millisecond) {
		t.Errorf("first gap %v–%v, want 2.0–2.3 s", gaps[0].from.Sub(start), gaps[0].to.Sub(start))
	}
	if !near(gaps[1].from, 5*time.Second) || !near(gaps[1].to, 5800*time.Millisecond) {
		t.Errorf("merged gap %v–%v, want 5.0–5.8 s", gaps[1].from.Sub(start), gaps[1].to.Sub(start))
	}
	if gaps[0].audio != 300*time.Millisecond || gaps[1].audio != 800*time.Millisecond {
		t.Errorf("gaps span %v and %v of audio, want 300ms and 800ms", gaps[0].audio, gaps[1].audio)
	}
}

// TestInterruptionsOf: a gap after a cut is attributed to it, with the
// concealment, recovery in path RTTs, lokicall's event and the jitter
// buffer 5 s after; a gap at a swap of the caller's node to the swap; one
// with no cause to none.
func TestInterruptionsOf(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	var live []LiveSample
	concealed := uint64(0)
	for s := 1; s <= 60; s++ {
		if s >= 11 && s <= 19 { // the cut: 50 frames a second concealed
			concealed += 50
		}
		jb := 60.0
		if s == 25 {
			jb = 140
		}
		l := LiveSample{Time: at(float64(s))}
		l.FramesPlayed, l.FramesConcealed, l.JitterBufferMS = uint64(50*s), concealed, jb
		live = append(live, l)
	}
	rtts := 2.0
	res := &CallResult{T0: t0, Callee: Side{Live: live, Events: []InterruptionEvent{
		{Time: at(19.9)},
	}}}
	res.Callee.Events[0].Phase, res.Callee.Events[0].GapMS, res.Callee.Events[0].RecoveryRTTs = "ended", 9400, &rtts
	cut := Action{Node: "alice", Ctl: []string{"cut", "8s"}, Length: 8 * time.Second, taken: at(10)}
	swap := Swap{Node: "alice", StallMS: 400, at: at(40)}
	other := Swap{Node: "bob", StallMS: 400, at: at(50)}
	gaps := []gap{{window{at(10.5), at(19.9)}, 9400 * time.Millisecond}, {window{at(40.2), at(40.5)}, 300 * time.Millisecond},
		{window{at(50.1), at(50.3)}, 200 * time.Millisecond}}
	got := interruptionsOf(res, gaps, []Action{cut}, swapCauses([]Swap{swap, other}, "alice"), 250, 60)
	if len(got) != 3 {
		t.Fatalf("%d interruptions, want 3", len(got))
	}
	c := got[0]
	if c.Cause != "alice: cut 8s" || math.Abs(c.LengthMS-9400) > 1 || math.Abs(c.AtS-10.5) > 1e-6 {
		t.Errorf("cut: %+v", c)
	}
	if c.ConcealedMS != 9*50*20 { // counters at 10 s and 21 s
		t.Errorf("cut concealed %.0f ms, want %d", c.ConcealedMS, 9*50*20)
	}
	if c.RecoveryRTTs == nil || math.Abs(*c.RecoveryRTTs-1.9*1000/250) > 1e-6 {
		t.Errorf("cut recovery %v, want %.2f RTTs", c.RecoveryRTTs, 1.9*1000/250)
	}
	if c.LokicallRecoveryRTTs == nil || *c.LokicallRecoveryRTTs != 2 || c.LokicallGapMS != 9400 {
		t.Errorf("cut: lokicall's event not matched: %+v", c)
	}
	if c.JitterBufferAfterMS == nil || *c.JitterBufferAfterMS != 140 || c.CalmJitterBufferMS != 60 {
		t.Errorf("cut: jitter buffer after %v, calm %.0f; want 140, 60", c.JitterBufferAfterMS, c.CalmJitterBufferMS)
	}
	if s := got[1]; s.Cause != "swap (400 ms stall)" || s.RecoveryRTTs == nil || math.Abs(*s.RecoveryRTTs-100.0/250) > 1e-6 || s.LokicallGapMS != 0 {
		t.Errorf("swap: %+v", s)
	}
	if n := got[2]; n.Cause != "" || n.RecoveryRTTs != nil {
		t.Errorf("the callee's own swap (it stalls bob → alice) was taken as the cause: %+v", n)
	}
}

// TestSpikesOf: the shipped trace (a) has its four spikes at 4, 54, 104
// and 154 s with peaks of 384–548 ms (testnet/README.md's stall figures).
func TestSpikesOf(t *testing.T) {
	tr, err := onion.LoadTrace("../traces/lokinet-0.9.11-ping-50pps-a.csv")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	sp := spikesOf(tr, start, window{start, start.Add(tr.Length() - time.Second)})
	if len(sp) != 4 {
		t.Fatalf("%d spikes %+v, want 4", len(sp), sp)
	}
	for i, s := range sp {
		at := s.at.Sub(start).Seconds()
		if want := 4 + 50*float64(i); math.Abs(at-want) > 1.5 {
			t.Errorf("spike %d at %.1f s, want about %.0f s", i, at, want)
		}
		if s.PeakRTTMS < 380 || s.PeakRTTMS > 550 {
			t.Errorf("spike %d peak %.0f ms, want 384–548", i, s.PeakRTTMS)
		}
		if s.FirstMS <= 0 || s.FirstMS > 600 || s.FirstMS > s.LengthMS {
			t.Errorf("spike %d: first stall %.0f ms of an episode of %.0f ms", i, s.FirstMS, s.LengthMS)
		}
	}
}
