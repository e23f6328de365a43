package onion

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// probeSeries is a ping's round trips, probe by probe; -1 for a lost one.
type probeSeries []float64

// spikes finds the episodes in which the round trip rose more than above
// ms over the series' median (probes above it less than merge probes apart
// are one episode): their start (probe index) and peak.
func (s probeSeries) spikes(above float64, merge int) (starts []int, peaks []float64) {
	med := s.quantile(0.5)
	last := -merge - 1
	for i, r := range s {
		if r <= med+above {
			continue
		}
		if i-last > merge {
			starts, peaks = append(starts, i), append(peaks, r)
		}
		peaks[len(peaks)-1] = max(peaks[len(peaks)-1], r)
		last = i
	}
	return starts, peaks
}

func (s probeSeries) quantile(q float64) float64 {
	var v []float64
	for _, r := range s {
		if r >= 0 {
			v = append(v, r)
		}
	}
	slices.Sort(v)
	return quantile(v, q)
}

// calm is the series without its spike episodes (and the 2 s after each).
func (s probeSeries) calm(above float64, perSecond int) probeSeries {
	med := s.quantile(0.5)
	var out probeSeries
	skip := 0
	for _, r := range s {
		if r > med+above {
			skip = 2 * perSecond
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, r)
	}
	return out
}

// figures summarises a series as the README's table row.
// Episodes closer than 3 s are one stall. at gives probe i's send time in
// seconds.
func (s probeSeries) figures(name string, interval, length time.Duration, at func(i int) float64) string {
	const above = 150 // ms over the median: a stall, not jitter
	perSecond := int(time.Second / interval)
	starts, peaks := s.spikes(above, 3*perSecond)
	var periods []float64
	var when []string
	for i := range starts {
		when = append(when, fmt.Sprintf("%.0f", at(starts[i])))
		if i > 0 {
			periods = append(periods, at(starts[i])-at(starts[i-1]))
		}
	}
	slices.Sort(peaks)
	slices.Sort(periods)
	calm := s.calm(above, perSecond)
	lost := 0
	for _, r := range s {
		if r < 0 {
			lost++
		}
	}
	rng := func(v []float64, unit string) string {
		if len(v) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f–%.0f %s (median %.0f)", v[0], v[len(v)-1], unit, quantile(v, 0.5))
	}
	return fmt.Sprintf("| %s | %.0f s | %d at %s s | %s | %s | %.1f / %.1f / %.1f / %.1f ms | %d |",
		name, length.Seconds(), len(peaks), strings.Join(when, ", "), rng(peaks, "ms"), rng(periods, "s"),
		calm.quantile(0.1), calm.quantile(0.5), calm.quantile(0.9), calm.quantile(0.99), lost)
}

// pingSeries sends a probe from a to b every interval for d; b echoes
// each at once. It returns the round trips by probe and the probes' send
// times in seconds since the first.
func pingSeries(t *testing.T, a, b *Endpoint, ach, bch chan recv, interval, d time.Duration) (probeSeries, []float64) {
	t.Helper()
	n := int(d / interval)
	rtt := make(probeSeries, n)
	for i := range rtt {
		rtt[i] = -1
	}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // b's echo
		for {
			select {
			case r := <-bch:
				_ = b.Send(r.from, r.pkt)
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // a's receiver
		for {
			select {
			case r := <-ach:
				if len(r.pkt) != 16 {
					continue
				}
				seq := int(binary.BigEndian.Uint64(r.pkt))
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(r.pkt[8:])))
				mu.Lock()
				if seq < n {
					rtt[seq] = float64(time.Since(sent).Microseconds()) / 1000
				}
				mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	at := make([]float64, n)
	start := time.Now()
	for seq := range n {
		now := time.Now()
		at[seq] = now.Sub(start).Seconds()
		pkt := binary.BigEndian.AppendUint64(nil, uint64(seq))
		pkt = binary.BigEndian.AppendUint64(pkt, uint64(now.UnixNano()))
		_ = a.Send(b.Address(), pkt)
		<-tick.C
	}
	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(rtt), at
}

// TestStallFigures measures, with a probe of 50 packets/s as the real
// traces were taken, the emulator's session swaps (forced, default period
// and stall) and its replay of the measured trace, beside the same
// figures of the measured traces themselves: the table in
// testnet/README.md. It takes about three minutes: LOKICALL_STALL_FIGURES=1.
func TestStallFigures(t *testing.T) {
	if os.Getenv("LOKICALL_STALL_FIGURES") == "" {
		t.Skip("long measurement: set LOKICALL_STALL_FIGURES=1")
	}
	const interval = 20 * time.Millisecond
	length := 180 * time.Second
	if s := os.Getenv("LOKICALL_STALL_SECONDS"); s != "" {
		var sec int
		fmt.Sscan(s, &sec)
		length = time.Duration(sec) * time.Second
	}
	rows := []string{
		"| series | length | spikes (start, s) | spike peak RTT | spike period | calm RTT p10 / p50 / p90 / p99 | lost |",
		"|---|---|---|---|---|---|---|",
	}
	for _, f := range []string{"lokinet-0.9.11-ping-50pps-a.csv", "lokinet-0.9.11-ping-50pps-b.csv"} {
		tr, err := LoadTrace("../traces/" + f)
		if err != nil {
			t.Fatal(err)
		}
		s := make(probeSeries, tr.Len())
		for i, r := range tr.rtt {
			s[i] = float64(r.Microseconds()) / 1000
			if r < 0 {
				s[i] = -1
			}
		}
		rows = append(rows, s.figures("real: "+f, interval, tr.Length(), func(i int) float64 { return tr.send[i].Seconds() }))
	}
	trace, err := LoadTrace("../traces/lokinet-0.9.11-ping-50pps-a.csv")
	if err != nil {
		t.Fatal(err)
	}
	runs := []struct {
		name string
		cfg  func(*EndpointConfig)
	}{
		{"emulated: -session-swap=force (50s, 240ms-550ms), no link delay", func(c *EndpointConfig) {
			c.Swap = SwapConfig{Mode: SwapForce}
		}},
		{"emulated: -trace …-a.csv on both nodes, no link delay", func(c *EndpointConfig) { c.Trace = trace }},
	}
	// One after the other, so that neither run's load shows in the other;
	// LOKICALL_STALL_ONLY=swap or trace runs one.
	only := os.Getenv("LOKICALL_STALL_ONLY")
	for _, run := range runs {
		if only != "" && !strings.Contains(run.name, only) {
			continue
		}
		tn := newTestNet(t, 8, LinkConfig{})
		a, ach := newConfiguredEndpoint(t, tn, 4, 4096, run.cfg)
		b, bch := newConfiguredEndpoint(t, tn, 4, 4096, run.cfg)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := a.Open(ctx, b.Address())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		s, at := pingSeries(t, a, b, ach, bch, interval, length)
		rows = append(rows, s.figures(run.name, interval, length, func(i int) float64 { return at[i] }))
	}
	t.Log("\n" + strings.Join(rows, "\n"))
}
