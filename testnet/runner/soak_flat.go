package runner

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Point is one value of a series over time (seconds after the caller went
// active).
type Point struct {
	AtS   float64 `json:"at_s"`
	Value float64 `json:"value"`
}

// Series is one figure of a soak over time, with its flatness verdict.
type Series struct {
	Name   string   `json:"name"` // rss_mb, cpu_percent, goroutines, jitter_buffer_ms, m2e_ms
	Side   string   `json:"side"` // caller, callee
	Unit   string   `json:"unit"`
	Points []Point  `json:"points"`
	Flat   Flatness `json:"flatness"`
}

// Flatness is the slope test of a soak series: the call is split at half
// its length; the least-squares slope of the second half, times that
// half's span, is the drift; the series is flat when |drift| is at most
// Threshold = max(2 × the first half's standard deviation, Floor), Floor
// being the figure's resolution. Points within Settle after a relay kill
// or daemon restart are left out of both halves.
type Flatness struct {
	N              int     `json:"n"`
	FirstMean      float64 `json:"first_half_mean"`
	FirstSD        float64 `json:"first_half_sd"`
	SecondMean     float64 `json:"second_half_mean"`
	SlopePerHour   float64 `json:"second_half_slope_per_hour"`
	Drift          float64 `json:"drift"`
	Floor          float64 `json:"floor"`
	Threshold      float64 `json:"threshold"`
	Flat           bool    `json:"flat"`
	TooFewPoints   bool    `json:"too_few_points,omitempty"`
	ExcludedPoints int     `json:"excluded_points"`
}

// spanS is a stretch of time (s) left out of the flatness test.
type spanS struct{ from, to float64 }

// flatness runs the slope test on pts of a call of length callS.
func flatness(pts []Point, callS float64, excluded []spanS, floor float64) Flatness {
	var first, second []Point
	f := Flatness{Floor: floor}
	for _, p := range pts {
		if slices.ContainsFunc(excluded, func(w spanS) bool { return p.AtS >= w.from && p.AtS <= w.to }) {
			f.ExcludedPoints++
			continue
		}
		if p.AtS < callS/2 {
			first = append(first, p)
		} else {
			second = append(second, p)
		}
	}
	f.N = len(first) + len(second)
	if len(first) < 3 || len(second) < 3 {
		f.TooFewPoints = true
		return f
	}
	var v1, v2 []float64
	for _, p := range first {
		v1 = append(v1, p.Value)
	}
	for _, p := range second {
		v2 = append(v2, p.Value)
	}
	s1 := Summarize(v1)
	f.FirstMean, f.FirstSD, f.SecondMean = s1.Mean, s1.StdDev, Summarize(v2).Mean
	slope := lsSlope(second)
	f.SlopePerHour = slope * 3600
	f.Drift = slope * (second[len(second)-1].AtS - second[0].AtS)
	f.Threshold = max(2*f.FirstSD, floor)
	f.Flat = math.Abs(f.Drift) <= f.Threshold
	return f
}

// lsSlope is the least-squares slope of value against time (per second).
func lsSlope(pts []Point) float64 {
	var mt, mv float64
	for _, p := range pts {
		mt += p.AtS
		mv += p.Value
	}
	n := float64(len(pts))
	mt, mv = mt/n, mv/n
	var num, den float64
	for _, p := range pts {
		num += (p.AtS - mt) * (p.Value - mv)
		den += (p.AtS - mt) * (p.AtS - mt)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// Floors of the flatness test: below these a drift is within what the
// figure resolves (memory pages come and go by the megabyte, CPU time is
// counted in 10 ms ticks over a 10 s sample, the jitter buffer moves by
// 20 ms frames, a click's m2e is resolved to a few ms).
const (
	floorRSSMB        = 1
	floorCPUPercent   = 1
	floorGoroutines   = 2
	floorJitterBuffer = 10
	floorM2E          = 5
)

// soakSeries bins a soak's samples, live events and clicks into series
// of one point per plan.Sample and tests each for flatness.
func soakSeries(sr *SoakReport, res *CallResult) []Series {
	plan := sr.Plan
	callS := plan.Duration.Seconds()
	var excluded []spanS
	for _, e := range sr.Events {
		if e.Node == "runner" && (e.Kind == "relay killed" || e.Kind == "daemon restart") {
			excluded = append(excluded, spanS{e.AtS, e.AtS + plan.Settle.Seconds()})
		}
	}
	var out []Series
	add := func(name, side, unit string, pts []Point, floor float64) {
		out = append(out, Series{Name: name, Side: side, Unit: unit, Points: pts, Flat: flatness(pts, callS, excluded, floor)})
	}
	for _, side := range []string{"caller", "callee"} {
		var rss, cpu []Point
		for _, s := range sr.Samples {
			if s.Side != side {
				continue
			}
			if len(rss) > 0 { // the first sample has no previous one to take CPU time from
				cpu = append(cpu, Point{s.AtS, s.CPUPercent})
			}
			rss = append(rss, Point{s.AtS, s.RSSMB})
		}
		add("rss_mb", side, "MB", rss, floorRSSMB)
		add("cpu_percent", side, "% of a core", cpu, floorCPUPercent)
		live := res.Caller.Live
		if side == "callee" {
			live = res.Callee.Live
		}
		var gor []Point
		for _, l := range live {
			if l.Goroutines > 0 {
				gor = append(gor, Point{l.Time.Sub(res.T0).Seconds(), float64(l.Goroutines)})
			}
		}
		add("goroutines", side, "", bin(gor, plan.Sample, last), floorGoroutines)
	}
	var jb, m2e []Point
	for _, l := range res.Callee.Live {
		if l.FramesPlayed > 0 {
			jb = append(jb, Point{l.Time.Sub(res.T0).Seconds(), l.JitterBufferMS})
		}
	}
	for _, c := range res.Clicks {
		m2e = append(m2e, Point{c.AtS, c.M2EMS})
	}
	add("jitter_buffer_ms", "callee", "ms", bin(jb, plan.Sample, mean), floorJitterBuffer)
	add("m2e_ms", "callee", "ms", bin(m2e, plan.Sample, median), floorM2E)
	return out
}

func last(v []float64) float64   { return v[len(v)-1] }
func mean(v []float64) float64   { return Summarize(v).Mean }
func median(v []float64) float64 { return Summarize(v).P50 }

// bin reduces points (in time order) to one per interval d, placed at the
// interval's end, with agg of the values in it.
func bin(pts []Point, d time.Duration, agg func([]float64) float64) []Point {
	if len(pts) == 0 || d <= 0 {
		return nil
	}
	w := d.Seconds()
	groups := map[int][]float64{}
	for _, p := range pts {
		k := int(math.Floor(p.AtS / w))
		groups[k] = append(groups[k], p.Value)
	}
	keys := make([]int, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]Point, 0, len(keys))
	for _, k := range keys {
		out = append(out, Point{float64(k+1) * w, agg(groups[k])})
	}
	return out
}

// sortEvents orders a soak's events by time.
func sortEvents(evs []SoakEvent) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].AtS < evs[j].AtS })
}
