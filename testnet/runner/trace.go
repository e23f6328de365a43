package runner

import (
	"context"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/lokicall/lokicall/testnet/onion"
)

// Spike is an episode of a replayed trace whose round trip stands more than
// spikeOver above the trace's median.
type Spike struct {
	AtS       float64 `json:"at_s"` // after the caller went active
	LengthMS  float64 `json:"length_ms"`
	PeakRTTMS float64 `json:"peak_rtt_ms"`
	// FirstMS is the length of its first run of probes over the threshold
	// (a spike of the real daemon can be two stalls a second apart): the
	// stall an interruption at its start follows.
	FirstMS float64 `json:"first_ms"`

	at   time.Time
	open bool // the first run goes on
}

const (
	spikeOver  = 150 * time.Millisecond // as the stall figures (testnet/README.md)
	spikeMerge = 3 * time.Second
	spikeStep  = 20 * time.Millisecond
)

var traceLoaded = regexp.MustCompile(`time=(\S+) .*msg="trace loaded"`)

// traceSpikes returns the spikes of the trace (its path in the image) that
// node replayed within w: the node replays it from when it loaded it.
func (r *Runner) traceSpikes(ctx context.Context, trace, node string, w window) []Spike {
	dir := r.Traces
	if dir == "" {
		dir = "testnet/traces"
	}
	tr, err := onion.LoadTrace(filepath.Join(dir, filepath.Base(trace)))
	if err != nil {
		r.log().Warn("trace spikes", "err", err)
		return nil
	}
	out, err := r.Testnet.Logs(ctx, node)
	if err != nil {
		return nil
	}
	m := traceLoaded.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return nil
	}
	start, err := time.Parse(time.RFC3339Nano, m[len(m)-1][1])
	if err != nil {
		return nil
	}
	return spikesOf(tr, start, w)
}

// spikesOf finds the spikes of tr replayed from start within w.
func spikesOf(tr *onion.Trace, start time.Time, w window) []Spike {
	rtts := tr.RTTs()
	if len(rtts) == 0 {
		return nil
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	thr := rtts[len(rtts)/2] + spikeOver
	var out []Spike
	var last time.Time // the last probe over the threshold
	for t := w.from; !t.After(w.to); t = t.Add(spikeStep) {
		ow, lost := tr.OneWay(t.Sub(start))
		if lost || 2*ow <= thr {
			continue
		}
		rtt := ms(2 * ow)
		if n := len(out); n > 0 && t.Sub(last) < spikeMerge {
			sp := &out[n-1]
			sp.LengthMS = ms(t.Sub(sp.at)) + ms(spikeStep)
			sp.PeakRTTMS = max(sp.PeakRTTMS, rtt)
			sp.open = sp.open && t.Sub(last) <= spikeStep
			if sp.open {
				sp.FirstMS = sp.LengthMS
			}
		} else {
			out = append(out, Spike{at: t, LengthMS: ms(spikeStep), FirstMS: ms(spikeStep), PeakRTTMS: rtt, open: true})
		}
		last = t
	}
	return out
}
