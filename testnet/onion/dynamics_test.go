package onion

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// arrival is one packet of a stream as the receiver saw it.
type arrival struct {
	seq        int
	sent, got  time.Time
	sentOffset time.Duration // since the stream started
}

// stream sends a numbered packet from a to b every interval for d, and
// collects what b received until a second after the last send.
func stream(t *testing.T, a, b *Endpoint, bch chan recv, interval, d time.Duration) (sent int, got []arrival) {
	t.Helper()
	for len(bch) > 0 {
		<-bch
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for time.Since(start) < d {
			pkt := binary.BigEndian.AppendUint64(nil, uint64(sent))
			pkt = binary.BigEndian.AppendUint64(pkt, uint64(time.Now().UnixNano()))
			// Like IP, a send may fail while there is no path.
			if err := a.Send(b.Address(), pkt); err != nil && !errors.Is(err, ErrNoPath) {
				t.Errorf("send %d: %v", sent, err)
				return
			}
			sent++
			<-tick.C
		}
	}()
	collect := func(r recv) {
		if r.from != a.Address() || len(r.pkt) != 16 {
			return
		}
		st := time.Unix(0, int64(binary.BigEndian.Uint64(r.pkt[8:])))
		got = append(got, arrival{seq: int(binary.BigEndian.Uint64(r.pkt)), sent: st, got: time.Now(), sentOffset: st.Sub(start)})
	}
	for {
		select {
		case r := <-bch:
			collect(r)
			continue
		case <-done:
		}
		break
	}
	drain := time.After(time.Second)
	for {
		select {
		case r := <-bch:
			collect(r)
		case <-drain:
			return sent, got
		}
	}
}

// gap is a silence in a stream's arrivals.
type gap struct {
	start time.Time     // arrival before the silence
	len   time.Duration // time to the next arrival
	// held is the number of packets sent during the silence (they arrive
	// after it); sentSpan and gotSpan are the times between the first and
	// last of them at the sender and at the receiver.
	held              int
	sentSpan, gotSpan time.Duration
}

func gaps(got []arrival, longer time.Duration) []gap {
	var out []gap
	for i := 1; i < len(got); i++ {
		if d := got[i].got.Sub(got[i-1].got); d > longer {
			g := gap{start: got[i-1].got, len: d}
			j := i
			for ; j < len(got) && got[j].sent.Before(got[i].got); j++ {
				g.held++
			}
			if g.held > 0 {
				g.sentSpan, g.gotSpan = got[j-1].sent.Sub(got[i].sent), got[j-1].got.Sub(got[i].got)
			}
			out = append(out, g)
		}
	}
	return out
}

// A session pair (forced) is replaced every period: the sender's traffic
// stalls for a time within the stall range, nothing is lost, order is
// kept, and the held packets arrive together when the stall ends.
func TestSessionSwapStallsAndBursts(t *testing.T) {
	// Not in parallel: it measures timings.
	const (
		period   = time.Second
		stallMin = 200 * time.Millisecond
		stallMax = 300 * time.Millisecond
		interval = 10 * time.Millisecond
	)
	tn := newTestNet(t, 8, LinkConfig{})
	swap := func(c *EndpointConfig) {
		c.Swap = SwapConfig{Mode: SwapForce, Period: period, StallMin: stallMin, StallMax: stallMax, Seed: 7}
	}
	// Loss and order must hold every time. The timings may be upset by a
	// loaded machine's own pauses: a fresh pair of nodes tries again, up
	// to three times.
	attempt := func() (problems []string) {
		a, _ := newConfiguredEndpoint(t, tn, 2, 64, swap)
		b, bch := newConfiguredEndpoint(t, tn, 2, 4096, swap)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := a.Open(ctx, b.Address()); err != nil {
			t.Fatal(err)
		}
		sent, got := stream(t, a, b, bch, interval, 3500*time.Millisecond)
		if len(got) != sent {
			// Nothing drops them but a machine so loaded that loopback
			// socket buffers overflow.
			return []string{fmt.Sprintf("%d of %d packets arrived: a stall must hold packets, not drop them", len(got), sent)}
		}
		for i := range got {
			if got[i].seq != i {
				t.Fatalf("packet %d arrived as the %dth: order not kept", got[i].seq, i)
			}
		}
		st := a.Status()
		if st.Swaps < 3 || len(st.Sessions) != 1 || !st.Sessions[0].Swapping {
			t.Fatalf("status %+v: want 3 or more swaps of one swapping session", st)
		}
		gs := gaps(got, stallMin*3/4)
		for _, g := range gs {
			t.Logf("gap of %v at +%v; the %d packets sent during it over %v arrived over %v", g.len.Round(time.Millisecond),
				g.start.Sub(got[0].got).Round(time.Millisecond), g.held, g.sentSpan.Round(time.Millisecond), g.gotSpan.Round(time.Millisecond))
		}
		if len(gs) != 3 {
			return []string{fmt.Sprintf("%d stalls in 3.5 s, want 3 (period %v)", len(gs), period)}
		}
		for i, g := range gs {
			if g.len < stallMin-interval || g.len > stallMax+interval+100*time.Millisecond {
				problems = append(problems, fmt.Sprintf("stall %d lasted %v, want within [%v, %v] (plus scheduling)", i, g.len, stallMin, stallMax))
			}
			// A stall of 200 ms holds about 20 packets of 10 ms; they are
			// sent back to back when it ends, much faster than they were
			// sent.
			if min := int(stallMin/interval) / 2; g.held < min || g.gotSpan > g.sentSpan*2/3 {
				problems = append(problems, fmt.Sprintf("stall %d: %d packets held (want %d or more) sent over %v arrived over %v: not a burst", i, g.held, min, g.sentSpan, g.gotSpan))
			}
			if i > 0 {
				if p := g.start.Sub(gs[i-1].start); (p - period).Abs() > 150*time.Millisecond {
					problems = append(problems, fmt.Sprintf("stalls %d and %d are %v apart, want %v", i-1, i, p, period))
				}
			}
		}
		return problems
	}
	retry(t, 3, attempt)
}

// retry runs attempt until it reports no problem, at most n times, and
// fails the test with the last attempt's problems.
func retry(t *testing.T, n int, attempt func() []string) {
	t.Helper()
	var problems []string
	for i := range n {
		if problems = attempt(); len(problems) == 0 {
			return
		}
		t.Logf("attempt %d of %d: %s", i+1, n, strings.Join(problems, "; "))
	}
	t.Error(strings.Join(problems, "\n"))
}

// With SwapAuto, a lookup answered from an incoming session opens none: a
// node that was only called holds no session of its own, and no session
// is replaced. Two nodes that look each other up at once each open one,
// and then both sessions are replaced.
func TestSessionOpeningRule(t *testing.T) {
	// Not in parallel: it measures timings.
	const period = 500 * time.Millisecond
	tn := newTestNet(t, 6, LinkConfig{})
	auto := func(c *EndpointConfig) {
		c.Swap = SwapConfig{Mode: SwapAuto, Period: period, StallMin: 50 * time.Millisecond, StallMax: 50 * time.Millisecond}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	a, _ := newConfiguredEndpoint(t, tn, 2, 64, auto)
	b, _ := newConfiguredEndpoint(t, tn, 2, 64, auto)
	if err := a.Open(ctx, b.Address()); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(ctx, a.Address()); err != nil { // the callee's lookup of its caller
		t.Fatal(err)
	}
	time.Sleep(3 * period)
	sa, sb := a.Status(), b.Status()
	if s := sa.Sessions[0]; !s.Outbound || s.Inbound || s.Swapping {
		t.Errorf("caller's session %+v: want outbound only, not swapping", s)
	}
	if s := sb.Sessions[0]; s.Outbound || !s.Inbound || s.Swapping {
		t.Errorf("callee's session %+v: want inbound only (its lookup answered from it), not swapping", s)
	}
	if sa.Swaps+sb.Swaps != 0 {
		t.Errorf("%d swaps with one session", sa.Swaps+sb.Swaps)
	}

	c, _ := newConfiguredEndpoint(t, tn, 2, 64, auto)
	d, _ := newConfiguredEndpoint(t, tn, 2, 64, auto)
	errs := make(chan error, 2)
	go func() { errs <- c.Open(ctx, d.Address()) }()
	go func() { errs <- d.Open(ctx, c.Address()) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * period)
	for c.Status().Swaps < 2 || d.Status().Swaps < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("each node looked the other up, but swaps: c %+v, d %+v", c.Status(), d.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range []SessionStatus{c.Status().Sessions[0], d.Status().Sessions[0]} {
		if !s.Outbound || !s.Inbound || !s.Swapping {
			t.Errorf("session %+v: want a swapping pair", s)
		}
	}
}

// A path is replaced when it reaches its lifetime, not only when it dies,
// and traffic both ways carries on across the replacement.
func TestPathExpiry(t *testing.T) {
	// Not in parallel: it measures timings.
	const lifetime = 1500 * time.Millisecond
	tn := newTestNet(t, 8, LinkConfig{Delay: 2 * time.Millisecond})
	// A starved process (a loaded machine) must not look like a dead path:
	// the paths here are only ever replaced on expiry.
	patient := func(c *EndpointConfig) { c.DeadAfter = 3 * time.Second }
	expire := func(c *EndpointConfig) { patient(c); c.PathLifetime = lifetime }
	// The replacement and its counts must be right every time; losses
	// at a switch may be upset by a loaded machine: a fresh pair tries
	// again, up to three times.
	attempt := func() (problems []string) {
		a, ach := newConfiguredEndpoint(t, tn, 3, 4096, expire)
		b, bch := newConfiguredEndpoint(t, tn, 3, 4096, patient)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := a.Open(ctx, b.Address()); err != nil {
			t.Fatal(err)
		}
		first := a.Path()
		done := make(chan struct{})
		var back []arrival
		var backSent int
		go func() { // b → a while a → b runs
			defer close(done)
			backSent, back = stream(t, b, a, ach, 20*time.Millisecond, 4*time.Second)
		}()
		sent, got := stream(t, a, b, bch, 20*time.Millisecond, 4*time.Second)
		<-done
		st := a.Status()
		t.Logf("a → b %d/%d, b → a %d/%d; %d paths replaced; first path %v, now %v", len(got), sent, len(back), backSent, st.PathsExpired, first, st.Path)
		if st.PathsExpired < 2 || st.PathsRebuilt != 0 {
			t.Fatalf("status %+v: want 2 or more paths replaced on expiry in 4 s of %v lifetime, none rebuilt", st, lifetime)
		}
		if slices.Equal(first, a.Path()) {
			t.Fatal("the path has not changed")
		}
		// A handful of packets may be lost to the switch (the reopen goes
		// through a fresh lookup); not more.
		for _, r := range []struct {
			name       string
			sent, recv int
		}{{"a → b", sent, len(got)}, {"b → a", backSent, len(back)}} {
			if r.recv < r.sent*9/10 {
				problems = append(problems, fmt.Sprintf("%s: %d of %d packets arrived across path replacements", r.name, r.recv, r.sent))
			}
		}
		return problems
	}
	retry(t, 3, attempt)
}

// writeTrace writes a synthetic trace of n probes 20 ms apart: the round
// trip swings smoothly between 20 and 100 ms, and every 25th probe is lost.
func writeTrace(t *testing.T, n int) (string, []time.Duration) {
	t.Helper()
	var b strings.Builder
	b.WriteString(traceHeader + "\n")
	rtts := make([]time.Duration, n)
	for i := range n {
		if i%25 == 24 {
			fmt.Fprintf(&b, "%d,%.6f,\n", i, float64(i)*0.02)
			rtts[i] = -1
			continue
		}
		ms := 60 + 40*math.Sin(2*math.Pi*float64(i)/100)
		fmt.Fprintf(&b, "%d,%.6f,%.1f\n", i, float64(i)*0.02, ms)
		rtts[i] = time.Duration(math.Round(ms*10)) * time.Millisecond / 10
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, rtts
}

// The trace replay delays each packet by half the round trip the trace
// has at its send time and drops the packets the trace lost: the measured
// one-way delays follow the file's distribution.
func TestTraceReplay(t *testing.T) {
	// Not in parallel: it measures timings.
	path, rtts := writeTrace(t, 250) // 5 s; the replay loops after it
	tr, err := LoadTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 250 || tr.Length() != 5*time.Second {
		t.Fatalf("trace of %d probes over %v, want 250 over 5s", tr.Len(), tr.Length())
	}
	tn := newTestNet(t, 6, LinkConfig{})
	// A loaded machine adds its own delays: a fresh pair tries again, up
	// to three times.
	retry(t, 3, func() (problems []string) {
		a, _ := newConfiguredEndpoint(t, tn, 2, 64, func(c *EndpointConfig) { c.Trace = tr })
		b, bch := newConfiguredEndpoint(t, tn, 2, 4096, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := a.Open(ctx, b.Address()); err != nil {
			t.Fatal(err)
		}
		// The relays add almost nothing on loopback: the measured one-way
		// delay is the trace's.
		sent, got := stream(t, a, b, bch, 20*time.Millisecond, 3*time.Second)
		var measured, want []float64
		for _, g := range got {
			measured = append(measured, float64(g.got.Sub(g.sent))/1e6)
			d, lost := tr.OneWay(g.sent.Sub(a.start))
			if lost {
				t.Fatalf("packet %d arrived although the trace lost it", g.seq)
			}
			want = append(want, float64(d)/1e6)
		}
		// Packets are sent at the trace's spacing: it loses one in 25.
		var traceLost int
		for _, r := range rtts {
			if r < 0 {
				traceLost++
			}
		}
		lost := sent - len(got)
		wantLost := float64(sent) * float64(traceLost) / float64(len(rtts))
		t.Logf("%d sent, %d lost (trace: %.1f expected)", sent, lost, wantLost)
		if math.Abs(float64(lost)-wantLost) > wantLost/2+2 {
			problems = append(problems, fmt.Sprintf("%d lost, want about %.1f", lost, wantLost))
		}
		slices.Sort(measured)
		slices.Sort(want)
		for _, q := range []float64{0.1, 0.5, 0.9} {
			m, w := quantile(measured, q), quantile(want, q)
			t.Logf("one-way delay p%.0f: measured %.1f ms, trace %.1f ms", q*100, m, w)
			// The relays add little on loopback, a loaded machine more;
			// never less than the trace.
			if m < w-1 || m > w+25 {
				problems = append(problems, fmt.Sprintf("one-way delay p%.0f: %.1f ms, trace says %.1f ms", q*100, m, w))
			}
		}
		return problems
	})
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

// A cut drops the node's traffic both ways for its length; afterwards the
// node rebuilds its path and traffic flows both ways again.
func TestCut(t *testing.T) {
	// Not in parallel: it measures timings.
	const cut = 2 * time.Second
	tn := newTestNet(t, 8, LinkConfig{})
	// Nothing may cross a cut; how soon traffic is back may be upset by a
	// loaded machine: a fresh pair tries again, up to three times.
	attempt := func() (problems []string) {
		im := NewImpairment(1)
		a, ach := newConfiguredEndpoint(t, tn, 3, 4096, func(c *EndpointConfig) { c.Impair = im })
		b, bch := newConfiguredEndpoint(t, tn, 3, 4096, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := a.Open(ctx, b.Address()); err != nil {
			t.Fatal(err)
		}
		var back []arrival
		done := make(chan struct{})
		cutAt := make(chan time.Time, 1)
		time.AfterFunc(time.Second, func() {
			im.Cut(cut)
			cutAt <- time.Now() // packets stamped from now on meet the cut
		})
		go func() {
			defer close(done)
			_, back = stream(t, b, a, ach, 20*time.Millisecond, 6*time.Second)
		}()
		_, got := stream(t, a, b, bch, 20*time.Millisecond, 6*time.Second)
		<-done
		from, to := <-cutAt, im.CutUntil()
		for _, dir := range []struct {
			name string
			got  []arrival
		}{{"a → b", got}, {"b → a", back}} {
			var during, firstAfter int
			var resumed time.Time
			for _, g := range dir.got {
				switch {
				case g.sent.After(from) && g.sent.Before(to):
					during++
				case g.got.After(to) && resumed.IsZero():
					resumed, firstAfter = g.got, g.seq
				}
			}
			t.Logf("%s: %d packets sent during the cut arrived; traffic back %v after it ended (packet %d)", dir.name, during, resumed.Sub(to).Round(time.Millisecond), firstAfter)
			if during != 0 {
				t.Fatalf("%s: %d packets got through the cut", dir.name, during)
			}
			if resumed.IsZero() || resumed.Sub(to) > 2500*time.Millisecond {
				problems = append(problems, fmt.Sprintf("%s: traffic did not resume within 2.5 s of the cut's end", dir.name))
			}
		}
		if s := im.Stats(); s.Cuts != 1 || s.Dropped == 0 {
			t.Fatalf("impairment stats %+v", s)
		}
		return problems
	}
	retry(t, 3, attempt)
}

// A loss window drops about its rate of packets while it lasts, and none
// after.
func TestImpairmentLoss(t *testing.T) {
	t.Parallel()
	im := NewImpairment(3)
	im.Loss(time.Hour, 0.3)
	var dropped int
	const n = 100000
	for range n {
		if im.Drop() {
			dropped++
		}
	}
	if r := float64(dropped) / n; math.Abs(r-0.3) > 0.01 {
		t.Errorf("loss %.3f during the window, want 0.3", r)
	}
	im.Loss(0, 0.3)
	for range 1000 {
		if im.Drop() {
			t.Fatal("a packet dropped after the window")
		}
	}
	var none *Impairment
	if none.Drop() {
		t.Fatal("nil impairment dropped a packet")
	}
}
