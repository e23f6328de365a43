package media_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/testnet/onion"
)

// A stall replay sends one 20 ms packet per frame over a path given by its
// one-way delay at each send time, in virtual time: a packet never overtakes
// the one before (Lokinet delivers a session's packets in order), and the
// jitter buffer is popped every frame, 3 ms after each send tick. The same
// path is replayed with and without its stalls, so that the stalls' cost is
// a ratio against a baseline measured in the same run.

// stallFrame is the frame duration of the replays.
const stallFrame = 20 * time.Millisecond

// stallPath is a path to replay: its one-way delay for a packet sent at t
// (lost: no delivery), the stalls in it, and its length.
type stallPath struct {
	name   string
	length time.Duration
	delay  func(t time.Duration) (d time.Duration, lost bool)
	stalls []stall
}

// stall is a period in which the path delivers nothing; the packets sent
// in it arrive in a burst when it ends.
type stall struct{ at, length time.Duration }

// syntheticPath is five minutes of a path with 15 ms of base delay and up to
// 20 ms of random queueing, with (if stalls) a 400-550 ms stall every 50 s,
// the first 25 s in: the pattern Lokinet 0.9.11 shows when both ends hold a
// session to each other (testnet/traces/README.md).
func syntheticPath(stalls bool) stallPath {
	const length = 5 * time.Minute
	rng := rand.New(rand.NewPCG(7, 50))
	n := int(length / stallFrame)
	jitter := make([]time.Duration, n+1)
	for i := range jitter {
		jitter[i] = time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
	}
	p := stallPath{name: "synthetic", length: length}
	if stalls {
		for at := 25 * time.Second; at < length-5*time.Second; at += 50 * time.Second {
			p.stalls = append(p.stalls, stall{at: at, length: 400*time.Millisecond + time.Duration(rng.Int64N(int64(150*time.Millisecond)))})
		}
	} else {
		p.name += " without stalls"
	}
	p.delay = func(t time.Duration) (time.Duration, bool) {
		d := 15*time.Millisecond + jitter[min(int(t/stallFrame), n)]
		for _, s := range p.stalls {
			if t >= s.at && t < s.at+s.length {
				d += s.at + s.length - t
			}
		}
		return d, false
	}
	return p
}

// tracePaths loads a measured Lokinet trace as a path with its delay spikes
// (one-way delay above 100 ms, where the calm path stays under 40 ms) as
// stalls, and the same trace with each spike's probes given the delay of the
// last calm probe before it.
func tracePaths(t testing.TB, file string) (withStalls, calm stallPath) {
	t.Helper()
	tr, err := onion.LoadTrace("../testnet/traces/" + file)
	if err != nil {
		t.Fatal(err)
	}
	const spike = 100 * time.Millisecond
	withStalls = stallPath{name: file, length: tr.Length(), delay: tr.OneWay}
	var last time.Duration
	var in bool
	for at := time.Duration(0); at < tr.Length(); at += stallFrame {
		d, lost := tr.OneWay(at)
		switch {
		case lost:
		case d > spike && !in:
			in = true
			withStalls.stalls = append(withStalls.stalls, stall{at: at, length: d - last})
		case d > spike:
			s := &withStalls.stalls[len(withStalls.stalls)-1]
			s.length = max(s.length, d-last+(at-s.at))
		default:
			in, last = false, d
		}
	}
	calm = stallPath{name: file + " despiked", length: tr.Length()}
	calm.delay = func(at time.Duration) (time.Duration, bool) {
		d, lost := tr.OneWay(at)
		if lost || d <= spike {
			return d, lost
		}
		for back := at - stallFrame; back >= 0; back -= stallFrame {
			if b, l := tr.OneWay(back); !l && b <= spike {
				return b, false
			}
		}
		return d, false // a spike at the start has no calm probe before it
	}
	return withStalls, calm
}

// playout is what one replay saw at each Pop.
type playout struct {
	held    []time.Duration // how long each packet played was held in the buffer
	delay   []time.Duration // the audio buffered after each Pop, 0 before playout
	target  []time.Duration // its target delay then
	conceal []bool          // whether the Pop played concealment
	started int             // the first Pop that played
}

// replay plays p through a fresh adaptive jitter buffer.
func replay(t testing.TB, p stallPath) playout {
	t.Helper()
	jb, err := media.NewJitterBuffer(media.JitterConfig{FrameDuration: stallFrame})
	if err != nil {
		t.Fatal(err)
	}
	n := int(p.length / stallFrame)
	arrival := make([]time.Duration, n)
	lost := make([]bool, n)
	var last time.Duration
	for k := range n {
		d, l := p.delay(time.Duration(k) * stallFrame)
		if lost[k] = l; l {
			continue
		}
		arrival[k] = max(time.Duration(k)*stallFrame+d, last)
		last = arrival[k]
	}
	order := make([]int, n)
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(arrival[a] - arrival[b]) })
	base := time.Unix(1e6, 0)
	out := playout{delay: make([]time.Duration, n), target: make([]time.Duration, n), conceal: make([]bool, n), started: -1}
	next := 0
	for pop := range n {
		now := time.Duration(pop)*stallFrame + 3*time.Millisecond
		for ; next < n && arrival[order[next]] <= now; next++ {
			if k := order[next]; !lost[k] {
				jb.Push(uint16(k), uint32(k*960), []byte{byte(k)}, base.Add(arrival[k]))
			}
		}
		slot := jb.Pop()
		if out.started < 0 && slot.Status != media.Empty {
			out.started = pop
		}
		if slot.Status == media.Ready {
			out.held = append(out.held, now-arrival[slot.Seq])
		}
		if out.started >= 0 {
			out.delay[pop], out.target[pop] = jb.Delay(), jb.TargetDelay()
			out.conceal[pop] = slot.Status != media.Ready
		}
	}
	return out
}

// stallFigures compares a replay with stalls against the same path's replay
// without them.
type stallFigures struct {
	// medianStall and medianCalm are the median time a packet played was
	// held in the buffer, over the call.
	medianStall, medianCalm time.Duration
	// worstConceal is the largest ratio of the concealment a stall added
	// (over the baseline's, from its start to 2 s after its end or to the
	// next stall) to its length.
	worstConceal float64
	// worstRecovery is the longest a stall's end took to bring the buffer
	// back to its calm target for good (within 20 s, or up to the next
	// stall): its target at most a frame above the baseline's at the same
	// moment (the two paths' histories differ), and the audio it holds at
	// most two frames above the baseline's target or holding.
	worstRecovery time.Duration
	// calmConceal is the share of frames concealed without the stalls: a
	// lower delay must not cost more concealment.
	calmConceal float64
	stalls      int
}

// measureStalls replays both paths and compares them.
func measureStalls(t testing.TB, withStalls, calm stallPath) stallFigures {
	t.Helper()
	s, c := replay(t, withStalls), replay(t, calm)
	f := stallFigures{medianStall: median(s.held), medianCalm: median(c.held), stalls: len(withStalls.stalls)}
	for _, concealed := range c.conceal {
		if concealed {
			f.calmConceal++
		}
	}
	f.calmConceal /= float64(len(c.conceal) - max(c.started, 0))
	for k, st := range withStalls.stalls {
		from, end := int(st.at/stallFrame), int((st.at+st.length)/stallFrame)
		// Each stall is judged up to the next one.
		until := len(s.delay)
		if k+1 < len(withStalls.stalls) {
			until = int(withStalls.stalls[k+1].at / stallFrame)
		}
		if from < s.started || end+1 >= until {
			continue
		}
		extra := 0
		for i := from; i < min(end+int(2*time.Second/stallFrame), until); i++ {
			if s.conceal[i] {
				extra++
			}
			if c.conceal[i] {
				extra--
			}
		}
		f.worstConceal = max(f.worstConceal, float64(time.Duration(extra)*stallFrame)/float64(st.length))
		back := end
		for i := end; i < min(end+int(20*time.Second/stallFrame), until); i++ {
			if s.target[i] > c.target[i]+stallFrame || s.delay[i] > max(c.target[i], c.delay[i])+2*stallFrame {
				back = i + 1
			}
		}
		f.worstRecovery = max(f.worstRecovery, time.Duration(back-end)*stallFrame)
	}
	return f
}

// median returns the median of d, 0 for none.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// stallCases are the replays: the synthetic path and the two measured traces.
func stallCases(t testing.TB) [][2]stallPath {
	cases := [][2]stallPath{{syntheticPath(true), syntheticPath(false)}}
	for _, file := range []string{"lokinet-0.9.11-ping-50pps-a.csv", "lokinet-0.9.11-ping-50pps-b.csv"} {
		s, c := tracePaths(t, file)
		cases = append(cases, [2]stallPath{s, c})
	}
	return cases
}

// TestStallsCostAGap: on a path that stalls for 400-550 ms every 50 s, and
// on the measured Lokinet traces, the median buffer delay stays within 1.2 ×
// that of the same path without stalls, each stall conceals at most its own
// length of audio, and the buffer is back at its calm target within 2 s of
// each stall's end.
func TestStallsCostAGap(t *testing.T) {
	for _, c := range stallCases(t) {
		t.Run(c[0].name, func(t *testing.T) {
			f := measureStalls(t, c[0], c[1])
			ratio := float64(f.medianStall) / float64(f.medianCalm)
			t.Logf("%d stalls; median buffer delay %v, without stalls %v (%.2f×); worst stall concealed %.2f× its length; back at target in %v at most; %.2f %% concealed without stalls",
				f.stalls, f.medianStall, f.medianCalm, ratio, f.worstConceal, f.worstRecovery, 100*f.calmConceal)
			if f.stalls == 0 {
				t.Fatal("no stall found in the path")
			}
			if ratio > 1.2 {
				t.Errorf("median buffer delay %v with stalls, %v without: %.2f×, want at most 1.2×", f.medianStall, f.medianCalm, ratio)
			}
			if f.worstConceal > 1 {
				t.Errorf("a stall concealed %.2f× its own length", f.worstConceal)
			}
			if f.worstRecovery > 2*time.Second {
				t.Errorf("the buffer took %v after a stall to come back to its target, want at most 2 s", f.worstRecovery)
			}
		})
	}
}

// BenchmarkStalls replays the stall paths; make bench reports their
// figures: the median buffer delay with and without stalls and its ratio,
// the worst stall's concealment over its length and its recovery time, and
// the share of frames concealed without stalls.
func BenchmarkStalls(b *testing.B) {
	for _, c := range stallCases(b) {
		b.Run(c[0].name, func(b *testing.B) {
			var f stallFigures
			for b.Loop() {
				f = measureStalls(b, c[0], c[1])
			}
			b.ReportMetric(float64(f.medianStall)/float64(time.Millisecond), "ms_median_stalls")
			b.ReportMetric(float64(f.medianCalm)/float64(time.Millisecond), "ms_median_calm")
			b.ReportMetric(float64(f.medianStall)/float64(f.medianCalm), "delay_ratio")
			b.ReportMetric(f.worstConceal, "conceal_per_stall")
			b.ReportMetric(float64(f.worstRecovery)/float64(time.Millisecond), "ms_recovery")
			b.ReportMetric(100*f.calmConceal, "pct_concealed_calm")
		})
	}
}
