package media_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
)

// pathSim plays packets sent every frame through a path with a given extra
// delay per packet into a jitter buffer popped every frame, in simulated
// time, and measures what the listener gets.
type pathSim struct {
	jb    *media.JitterBuffer
	frame time.Duration
	start time.Time
	sent  int           // packets sent so far
	pops  int           // Pops so far
	queue []simPacket   // in flight
	lat   time.Duration // sum of send-to-playout latency of Ready slots
	ready int
	empty int // Empty slots after playout started
}

type simPacket struct {
	seq     int
	arrival time.Time
}

func newPathSim(t *testing.T, frame time.Duration) *pathSim {
	t.Helper()
	jb, err := media.NewJitterBuffer(media.JitterConfig{FrameDuration: frame})
	if err != nil {
		t.Fatal(err)
	}
	return &pathSim{jb: jb, frame: frame, start: time.Unix(1e6, 0)}
}

// run simulates d of audio; delay gives packet k's one-way delay. Pops run
// 3 ms after each send tick, so the phase is not exactly aligned.
func (s *pathSim) run(d time.Duration, delay func(k int) time.Duration) {
	end := s.pops + int(d/s.frame)
	for ; s.pops < end; s.pops++ {
		now := s.start.Add(time.Duration(s.pops)*s.frame + 3*time.Millisecond)
		for ; s.start.Add(time.Duration(s.sent) * s.frame).Before(now); s.sent++ {
			sendAt := s.start.Add(time.Duration(s.sent) * s.frame)
			s.queue = append(s.queue, simPacket{seq: s.sent, arrival: sendAt.Add(delay(s.sent))})
		}
		kept := s.queue[:0]
		for _, p := range s.queue {
			if p.arrival.After(now) {
				kept = append(kept, p)
				continue
			}
			s.jb.Push(uint16(p.seq), uint32(p.seq*int(s.frame/time.Millisecond)*48), []byte{byte(p.seq)}, p.arrival)
		}
		s.queue = kept
		slot := s.jb.Pop()
		switch slot.Status {
		case media.Ready:
			sendAt := s.start.Add(time.Duration(int(slot.Seq)) * s.frame)
			if s.sent > 65536 {
				panic("sim too long for 16-bit sequence numbers")
			}
			s.lat += now.Sub(sendAt)
			s.ready++
		case media.Empty:
			if s.ready > 0 {
				s.empty++
			}
		}
	}
}

// meanLatency returns and resets the mean send-to-playout latency.
func (s *pathSim) meanLatency() time.Duration {
	if s.ready == 0 {
		return 0
	}
	m := s.lat / time.Duration(s.ready)
	s.lat, s.ready = 0, 0
	return m
}

func TestAdaptiveJitterBuffer(t *testing.T) {
	for _, frame := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond} {
		t.Run(frame.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(frame)))
			base := 50 * time.Millisecond
			s := newPathSim(t, frame)

			// A clean path: the buffer comes down to one frame and stays.
			s.run(10*time.Second, func(int) time.Duration { return base })
			s.meanLatency()
			s.run(5*time.Second, func(int) time.Duration { return base })
			clean := s.meanLatency()
			if got := s.jb.TargetDelay(); got != frame {
				t.Errorf("clean path: target %v, want one frame", got)
			}
			if clean > base+frame {
				t.Errorf("clean path: latency %v, want at most path %v + one frame", clean, base)
			}

			// 30 ms of uniform jitter: the target covers it and underruns
			// stay rare once it has adapted.
			jitter := func(int) time.Duration { return base + time.Duration(rng.Int64N(int64(30*time.Millisecond))) }
			s.run(5*time.Second, jitter)
			s.empty = 0
			s.meanLatency()
			s.run(20*time.Second, jitter)
			jittery := s.meanLatency()
			pops := int(20 * time.Second / frame)
			if s.jb.TargetDelay() < frame+20*time.Millisecond && frame < 30*time.Millisecond {
				t.Errorf("jittery path: target %v does not cover 30 ms of jitter", s.jb.TargetDelay())
			}
			if s.empty*100 > pops {
				t.Errorf("jittery path: %d underruns in %d frames, want under 1 %%", s.empty, pops)
			}
			if jittery <= clean {
				t.Errorf("jittery path: latency %v not above clean %v", jittery, clean)
			}

			// The path calms: the target and the latency come back down.
			s.run(60*time.Second, func(int) time.Duration { return base })
			s.meanLatency()
			s.run(5*time.Second, func(int) time.Duration { return base })
			calm := s.meanLatency()
			st := s.jb.Stats()
			t.Logf("latency clean %v, jittery %v, calm again %v; %+v", clean, jittery, calm, st)
			if s.jb.TargetDelay() != frame || calm > base+frame {
				t.Errorf("calm again: target %v latency %v, want one frame and at most %v", s.jb.TargetDelay(), calm, base+frame)
			}
			if st.Skipped == 0 {
				t.Error("the buffer never shrank")
			}
		})
	}
}

// TestAdaptiveJitterBufferSpike: an isolated 300 ms stall does not raise
// the target, and the buffer is back at it within 2 s of the stall's end;
// stalls that recur (three in 10 s) do raise it, until they stop.
func TestAdaptiveJitterBufferSpike(t *testing.T) {
	frame := 20 * time.Millisecond
	s := newPathSim(t, frame)
	base := 50 * time.Millisecond
	calm := func(int) time.Duration { return base }
	// stallAt delays the packets sent in the 300 ms after packet k0: they
	// arrive in a burst as the stall ends.
	stallAt := func(k0 int) func(k int) time.Duration {
		return func(k int) time.Duration {
			if k >= k0 && k < k0+15 {
				return base + 300*time.Millisecond - time.Duration(k-k0)*frame
			}
			return base
		}
	}
	s.run(5*time.Second, calm)
	s.run(300*time.Millisecond+2*time.Second, stallAt(s.sent+2))
	if got := s.jb.TargetDelay(); got != frame {
		t.Errorf("after an isolated 300 ms stall the target is %v, want one frame", got)
	}
	if got := s.jb.Delay(); got > 2*frame {
		t.Errorf("2 s after an isolated 300 ms stall the buffer holds %v, want at most two frames", got)
	}
	for range 3 {
		s.run(3*time.Second, stallAt(s.sent+2))
	}
	if got := s.jb.TargetDelay(); got < 200*time.Millisecond {
		t.Errorf("after four 300 ms stalls in 10 s the target is %v, want it to cover them", got)
	}
	s.run(15*time.Second, calm)
	if got := s.jb.TargetDelay(); got != frame {
		t.Errorf("15 s after the last stall the target is %v, want one frame", got)
	}
}

// TestFixedJitterBufferDoesNotAdapt is the control: with Fixed the target
// stays where it was configured whatever the path.
func TestFixedJitterBufferDoesNotAdapt(t *testing.T) {
	jb, err := media.NewJitterBuffer(media.JitterConfig{Fixed: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &pathSim{jb: jb, frame: 20 * time.Millisecond, start: time.Unix(1e6, 0)}
	rng := rand.New(rand.NewPCG(3, 4))
	s.run(10*time.Second, func(int) time.Duration { return time.Duration(rng.Int64N(int64(100 * time.Millisecond))) })
	if jb.Adaptive() || jb.TargetDelay() != media.DefaultTargetDelay || jb.Stats().Skipped+jb.Stats().Inserted != 0 {
		t.Errorf("fixed buffer: target %v, stats %+v", jb.TargetDelay(), jb.Stats())
	}
}

// TestAdaptiveJitterBufferCapsStalls: a 600 ms stall (packets held, then
// delivered in a burst) must not push the target past DefaultMaxTarget, or
// the rest of the call would carry the stall as extra delay.
func TestAdaptiveJitterBufferCapsStalls(t *testing.T) {
	frame := 20 * time.Millisecond
	s := newPathSim(t, frame)
	base := 60 * time.Millisecond
	s.run(5*time.Second, func(int) time.Duration { return base })
	stallAt := s.sent + 10
	s.run(3*time.Second, func(k int) time.Duration {
		if k >= stallAt && k < stallAt+30 {
			return base + 600*time.Millisecond - time.Duration(k-stallAt)*frame
		}
		return base
	})
	if got := s.jb.TargetDelay(); got > media.DefaultMaxTarget {
		t.Errorf("after a 600 ms stall the target is %v, want at most %v", got, media.DefaultMaxTarget)
	}
	s.meanLatency()
	s.run(10*time.Second, func(int) time.Duration { return base })
	if got := s.meanLatency(); got > base+media.DefaultMaxTarget+frame {
		t.Errorf("mean latency after the stall %v, want at most path + cap + a frame (%v)", got, base+media.DefaultMaxTarget+frame)
	}
}
