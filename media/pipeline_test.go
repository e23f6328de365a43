package media_test

import (
	"context"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/media/mediatest"
)

var epoch = time.Unix(1_700_000_000, 0)

// packet is one encoded frame as a Sender wrote it.
type packet struct {
	payload []byte
	dur     time.Duration
}

// sendTone runs a Sender over n frames of a 440 Hz tone on a step clock and
// returns its packets and the clock.
func sendTone(t *testing.T, n int, muted func() bool) ([]packet, *mediatest.StepClock, *media.Sender) {
	t.Helper()
	tone := media.NewTone(440)
	pcm := make([]int16, n*media.FrameSamples)
	if err := tone.ReadFrame(t.Context(), pcm); err != nil {
		t.Fatal(err)
	}
	clock := mediatest.NewStepClock(epoch)
	var pkts []packet
	s := &media.Sender{
		Source:  mediatest.NewSource(pcm),
		Encoder: newEncoder(t, media.EncoderConfig{}),
		Write: func(p []byte, d time.Duration) error {
			pkts = append(pkts, packet{p, d})
			return nil
		},
		Muted: muted,
		Level: &media.Meter{},
		Clock: clock,
	}
	if err := s.Run(t.Context()); err != io.EOF {
		t.Fatalf("Sender.Run = %v, want io.EOF at the end of the source", err)
	}
	return pkts, clock, s
}

func TestSenderPacesDriftFree(t *testing.T) {
	pkts, clock, s := sendTone(t, 50, nil)
	if len(pkts) != 50 || s.Stats().Frames != 50 {
		t.Fatalf("sent %d packets, Stats %+v; want 50", len(pkts), s.Stats())
	}
	for i, p := range pkts {
		if len(p.payload) != len(pkts[0].payload) || p.dur != 20*time.Millisecond {
			t.Errorf("packet %d: %d bytes, %v", i, len(p.payload), p.dur)
		}
	}
	wakes := clock.Wakes()
	for i, w := range wakes {
		if want := epoch.Add(time.Duration(i) * 20 * time.Millisecond); !w.Equal(want) {
			t.Fatalf("wake %d at %v, want %v (start + i·20ms)", i, w.Sub(epoch), want.Sub(epoch))
		}
	}
}

func TestSenderResyncsWhenFarBehind(t *testing.T) {
	clock := mediatest.NewStepClock(epoch)
	clock.OnSleep = func(n int, _ time.Time) {
		if n == 3 {
			clock.Advance(time.Second) // the process was stopped for a second
		}
	}
	s := &media.Sender{
		Source:  mediatest.NewSource(make([]int16, 6*media.FrameSamples)),
		Encoder: newEncoder(t, media.EncoderConfig{}),
		Write:   func([]byte, time.Duration) error { return nil },
		Clock:   clock,
	}
	if err := s.Run(t.Context()); err != io.EOF {
		t.Fatal(err)
	}
	w := clock.Wakes()
	// Ticks 0..2 on schedule; tick 3 finds the clock 1 s ahead and restarts
	// the schedule there instead of sending a burst.
	if got := w[4].Sub(w[3]); got != 20*time.Millisecond || w[3].Sub(epoch) < time.Second {
		t.Errorf("wakes after the stall: %v", w)
	}
}

func TestSenderMutedSendsSameSizeSilence(t *testing.T) {
	calls := 0
	muted := func() bool { calls++; return calls > 10 }
	pkts, _, s := sendTone(t, 30, muted)
	if st := s.Stats(); st.Frames != 30 || st.Muted != 20 {
		t.Errorf("Stats = %+v, want 30 frames, 20 muted", st)
	}
	dec := newDecoder(t)
	pcm := make([]int16, media.FrameSamples)
	for i, p := range pkts {
		if len(p.payload) != len(pkts[0].payload) {
			t.Errorf("packet %d (muted %v) is %d bytes, want %d", i, i >= 10, len(p.payload), len(pkts[0].payload))
		}
		if _, err := dec.Decode(p.payload, pcm); err != nil {
			t.Fatal(err)
		}
	}
	var m media.Meter
	m.Update(pcm)
	if l := m.Level(); l > -60 {
		t.Errorf("last muted frame decodes at %.1f dBFS, want silence", l)
	}
	if l := s.Level.Level(); math.Abs(l+12) > 0.5 {
		t.Errorf("sender meter = %.1f dBFS, want the source's -12 even when muted", l)
	}
}

func TestSenderStopsOnCancelAndErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	clock := mediatest.NewStepClock(epoch)
	clock.OnSleep = func(n int, _ time.Time) {
		if n == 5 {
			cancel()
		}
	}
	s := &media.Sender{Source: media.NewSilence(), Encoder: newEncoder(t, media.EncoderConfig{}),
		Write: func([]byte, time.Duration) error { return nil }, Clock: clock}
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if n := s.Stats().Frames; n != 4 {
		t.Errorf("sent %d frames before cancel, want 4", n)
	}
	boom := errors.New("boom")
	s = &media.Sender{Source: media.NewSilence(), Encoder: newEncoder(t, media.EncoderConfig{}),
		Write: func([]byte, time.Duration) error { return boom }, Clock: mediatest.NewStepClock(epoch)}
	if err := s.Run(t.Context()); !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the write error", err)
	}
	if err := (&media.Sender{}).Run(t.Context()); !errors.Is(err, media.ErrBadConfig) {
		t.Errorf("Run of an empty Sender = %v, want ErrBadConfig", err)
	}
}

// receive plays pkts through a Receiver on a step clock: before tick k the
// network delivers packet k unless drop(k), and the run stops after ticks
// ticks. It returns the sink and the receiver.
func receive(t *testing.T, pkts []packet, ticks int, drop func(k int) bool) (*mediatest.Sink, *media.Receiver) {
	t.Helper()
	jb, err := media.NewJitterBuffer(media.JitterConfig{Fixed: true})
	if err != nil {
		t.Fatal(err)
	}
	sink := mediatest.NewSink()
	clock := mediatest.NewStepClock(epoch)
	r := &media.Receiver{Jitter: jb, Decoder: newDecoder(t), Sink: sink, Clock: clock, Level: &media.Meter{}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock.OnSleep = func(n int, now time.Time) {
		k := n - 1
		if k == ticks {
			cancel()
			return
		}
		if k < len(pkts) && !drop(k) {
			r.Push(uint16(k+65500), uint32(k*media.FrameSamples), pkts[k].payload, now)
		}
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Receiver.Run = %v", err)
	}
	return sink, r
}

func TestReceiverWithLoss(t *testing.T) {
	const n = 100
	pkts, _, _ := sendTone(t, n, nil)
	lost := func(k int) bool { return k%10 == 7 } // 10 % loss, isolated
	sink, r := receive(t, pkts, n, lost)
	frames := sink.Frames()
	// Ticks 0 and 1 buffer (60 ms target = 3 packets); from tick 2 on,
	// exactly one frame per tick.
	if len(frames) != n-2 {
		t.Fatalf("sink got %d frames in %d ticks, want %d", len(frames), n, n-2)
	}
	for i, f := range frames {
		if len(f) != media.FrameSamples {
			t.Fatalf("frame %d has %d samples", i, len(f))
		}
	}
	st := r.Stats()
	// Played packets 0..97; of these 10 are lost (7, 17, …, 97), each with
	// its successor buffered: those whose successor carries FEC data are
	// rebuilt by FEC, the others concealed. (A steady tone loses FEC once
	// Opus's voice detector calls it noise, so both happen here.)
	fec := 0
	for k := 7; k < 98; k += 10 {
		if media.HasFEC(pkts[k+1].payload) {
			fec++
		}
	}
	if fec == 0 || fec == 10 {
		t.Errorf("%d of 10 lost frames have FEC; the test wants both kinds", fec)
	}
	want := media.ReceiverStats{Played: 98, Decoded: 88, Recovered: uint64(fec), Concealed: uint64(10 - fec), Lost: 10}
	if st.Played != want.Played || st.Decoded != want.Decoded || st.Recovered != want.Recovered ||
		st.Concealed != want.Concealed || st.Lost != want.Lost || st.Late != 0 || st.Underruns != 0 {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if want := epoch.Add(2 * 20 * time.Millisecond); !st.FirstPlayout.Equal(want) {
		t.Errorf("FirstPlayout = %v, want start + 40ms", st.FirstPlayout.Sub(epoch))
	}
	if st.JitterBufferDelay != 40*time.Millisecond {
		t.Errorf("JitterBufferDelay = %v, want 40ms", st.JitterBufferDelay)
	}
	out := sink.Samples()[5*media.FrameSamples:]
	if f := media.DominantFrequency(out, media.SampleRate); math.Abs(f-440) > 5 {
		t.Errorf("dominant frequency at the sink = %.2f Hz, want 440±5", f)
	}
	if l := r.Level.Peak(); math.Abs(l+12) > 1.5 {
		t.Errorf("receiver peak level %.1f dBFS, want about -12", l)
	}
}

func TestReceiverBurstLossAndUnderrun(t *testing.T) {
	pkts, _, _ := sendTone(t, 40, nil)
	// Packets 10 and 11 lost together: 10 has no successor, so it is
	// concealed; 11 is rebuilt from 12. After packet 39 the network goes
	// quiet: 20 more ticks are underruns, still one frame each.
	sink, r := receive(t, pkts, 60, func(k int) bool { return k == 10 || k == 11 })
	st := r.Stats()
	if got := len(sink.Frames()); got != 58 || st.Played != 58 {
		t.Errorf("sink got %d frames (Played %d), want 58", got, st.Played)
	}
	if st.Decoded != 38 || st.Recovered != 1 || st.Concealed != 1+18 || st.Underruns != 18 || st.Lost != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestReceiverRequiresFields(t *testing.T) {
	if err := (&media.Receiver{}).Run(t.Context()); !errors.Is(err, media.ErrBadConfig) {
		t.Errorf("Run of an empty Receiver = %v, want ErrBadConfig", err)
	}
}
