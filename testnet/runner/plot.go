package runner

import (
	"fmt"
	"image/color"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writePlots writes the PNG plots that have data and returns their names.
func writePlots(rep *Report) ([]string, error) {
	var names []string
	save := func(p *plot.Plot, name string) error {
		if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(rep.Dir, name)); err != nil {
			return fmt.Errorf("runner: plot %s: %w", name, err)
		}
		names = append(names, name)
		return nil
	}

	// Mouth-to-ear CDF, one line per scenario.
	cdf := plot.New()
	cdf.Title.Text = "Mouth-to-ear delay (one-way), CDF over all clicks of all calls"
	cdf.X.Label.Text = "mouth-to-ear (ms)"
	cdf.Y.Label.Text = "fraction of clicks"
	var lines []any
	for _, sc := range rep.Scenarios {
		v := figures(sc).m2e
		if len(v) == 0 {
			continue
		}
		sort.Float64s(v)
		xy := make(plotter.XYs, len(v))
		for i, x := range v {
			xy[i] = plotter.XY{X: x, Y: float64(i+1) / float64(len(v))}
		}
		lines = append(lines, sc.Name, xy)
	}
	if len(lines) > 0 {
		if err := plotutil.AddLines(cdf, lines...); err != nil {
			return names, fmt.Errorf("runner: plot: %w", err)
		}
		cdf.Legend.Top = false
		cdf.Legend.Left = false
		if err := save(cdf, "m2e_cdf.png"); err != nil {
			return names, err
		}
	}

	// Each dynamics call over time.
	for _, sc := range rep.Scenarios {
		for i := range sc.Calls {
			c := &sc.Calls[i]
			if c.Dynamics == nil || len(c.Callee.Live) == 0 {
				continue
			}
			p, err := dynamicsPlot(c)
			if err != nil {
				return names, err
			}
			if err := save(p, fmt.Sprintf("dynamics_%s_%02d.png", sc.Name, c.Index)); err != nil {
				return names, err
			}
		}
	}

	// Within one call: m2e per click and the callee's live figures.
	var call, lossy *CallResult
	for _, sc := range rep.Scenarios {
		for i := range sc.Calls {
			c := &sc.Calls[i]
			if call == nil && sc.Name != "loopback" && c.M2E.N > 0 && len(c.Callee.Live) > 0 {
				call = c
			}
			if len(c.Callee.Live) > 0 && (lossy == nil || statsOr(c.Callee.Stats).LossPercent > statsOr(lossy.Callee.Stats).LossPercent) {
				lossy = c
			}
		}
	}
	if call != nil {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("One call over time (%s, call %d, %s → %s)", call.Scenario, call.Index, call.Caller.Node, call.Callee.Node)
		p.X.Label.Text = "time since the caller went active (s)"
		p.Y.Label.Text = "ms"
		var m2e plotter.XYs
		for _, ch := range call.Clicks {
			m2e = append(m2e, plotter.XY{X: ch.AtS, Y: ch.M2EMS})
		}
		var ow, jit, jb, tgt plotter.XYs
		for _, l := range call.Callee.Live {
			t := l.Time.Sub(call.T0).Seconds()
			jit = append(jit, plotter.XY{X: t, Y: l.JitterMS})
			jb = append(jb, plotter.XY{X: t, Y: l.JitterBufferMS})
			tgt = append(tgt, plotter.XY{X: t, Y: l.JitterTargetMS})
		}
		for _, l := range call.Caller.Live {
			if l.RTTMS > 0 {
				ow = append(ow, plotter.XY{X: l.Time.Sub(call.T0).Seconds(), Y: l.RTTMS / 2})
			}
		}
		n := 0
		for _, sr := range []struct {
			name string
			xy   plotter.XYs
		}{{"mouth-to-ear (per click)", m2e}, {"path one-way (RTCP RTT/2)", ow}, {"jitter buffer delay", jb},
			{"jitter buffer target", tgt}, {"jitter (RFC 3550)", jit}} {
			if len(sr.xy) == 0 {
				continue
			}
			if err := addSeries(p, n, sr.name, sr.xy, n == 0); err != nil {
				return names, err
			}
			n++
		}
		p.Legend.Top = true
		p.Y.Min = 0
		p.Y.Max *= 1.3 // room for the legend above the highest line
		if err := save(p, "m2e_jitter_time.png"); err != nil {
			return names, err
		}
	}
	if lossy != nil {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Loss over time (%s, call %d, callee's live events)", lossy.Scenario, lossy.Index)
		p.X.Label.Text = "time since the caller went active (s)"
		p.Y.Label.Text = "% of packets / frames per second"
		var loss, conc, rec plotter.XYs
		var prev *LiveSample
		for i := range lossy.Callee.Live {
			l := &lossy.Callee.Live[i]
			t := l.Time.Sub(lossy.T0).Seconds()
			loss = append(loss, plotter.XY{X: t, Y: l.LossPercent})
			if prev != nil {
				dt := l.Time.Sub(prev.Time).Seconds()
				if dt > 0 {
					conc = append(conc, plotter.XY{X: t, Y: float64(l.FramesConcealed-prev.FramesConcealed) / dt})
					rec = append(rec, plotter.XY{X: t, Y: float64(l.FramesRecovered-prev.FramesRecovered) / dt})
				}
			}
			prev = l
		}
		for i, sr := range []struct {
			name string
			xy   plotter.XYs
		}{{"loss (cumulative %)", loss}, {"frames concealed /s", conc}, {"frames recovered by FEC /s", rec}} {
			if len(sr.xy) > 0 {
				if err := addSeries(p, i, sr.name, sr.xy, false); err != nil {
					return names, err
				}
			}
		}
		p.Legend.Top = true
		p.Y.Min = 0
		p.Y.Max = max(p.Y.Max*1.3, 1)
		if err := save(p, "loss_time.png"); err != nil {
			return names, err
		}
	}

	// m2e against hops and against concurrent pairs, with the model.
	delay := rep.Plan.Base.Delay
	if p, err := vsPlot(rep, "hops", func(p Params) int { return p.Hops },
		fmt.Sprintf("Mouth-to-ear against hops per side (per-link delay %s)", delay), "relays per path (each side)"); err != nil {
		return names, err
	} else if p != nil {
		if err := save(p, "m2e_vs_hops.png"); err != nil {
			return names, err
		}
	}
	if p, err := vsPlot(rep, "pairs", func(p Params) int { return p.pairs() },
		"Mouth-to-ear against concurrent calls (one per node pair)", "node pairs calling at once"); err != nil {
		return names, err
	} else if p != nil {
		if err := save(p, "m2e_vs_pairs.png"); err != nil {
			return names, err
		}
	}
	return names, nil
}

// vsPlot plots each click's m2e and the median against the parameter x of
// the sweep named sweep (plus the base scenario), with the modelled path
// delay and the modelled delay plus the loopback baseline; nil if the
// sweep has fewer than two points.
func vsPlot(rep *Report, sweep string, x func(Params) int, title, xlabel string) (*plot.Plot, error) {
	byX := map[int][]float64{}
	model := map[int]float64{}
	for _, sc := range rep.Scenarios {
		if sc.Sweep == sweep || sc.Name == "base" {
			k := x(sc.Params)
			byX[k] = append(byX[k], figures(sc).m2e...)
			model[k] = ms(sc.Params.ModelledOneWay())
		}
	}
	if len(byX) < 2 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "ms (one-way)"
	var xs []int
	for k := range byX {
		xs = append(xs, k)
	}
	sort.Ints(xs)
	var med, mod, modLoop, all plotter.XYs
	for _, k := range xs {
		s := Summarize(byX[k])
		if s.N > 0 {
			med = append(med, plotter.XY{X: float64(k), Y: s.P50})
		}
		mod = append(mod, plotter.XY{X: float64(k), Y: model[k]})
		if rep.LoopbackMS > 0 {
			modLoop = append(modLoop, plotter.XY{X: float64(k), Y: model[k] + rep.LoopbackMS})
		}
		for _, v := range byX[k] {
			all = append(all, plotter.XY{X: float64(k), Y: v})
		}
	}
	if len(all) > 0 {
		sc, err := plotter.NewScatter(all)
		if err != nil {
			return nil, fmt.Errorf("runner: plot: %w", err)
		}
		sc.Color = color.Gray{Y: 160}
		p.Add(sc)
		p.Legend.Add("each click", sc)
	}
	ls := []any{"modelled path (2 × hops × delay)", mod}
	if len(med) > 0 {
		ls = append([]any{"m2e median"}, append([]any{med}, ls...)...)
	}
	if len(modLoop) > 0 {
		ls = append(ls, "modelled + loopback baseline", modLoop)
	}
	if err := plotutil.AddLinePoints(p, ls...); err != nil {
		return nil, fmt.Errorf("runner: plot: %w", err)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	p.Y.Max *= 1.3
	return p, nil
}

// addSeries adds a line (with points if points) in the i-th style of
// plotutil's palette, so that series added one by one differ.
func addSeries(p *plot.Plot, i int, name string, xy plotter.XYs, points bool) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("runner: plot: %w", err)
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i)
	p.Add(l)
	if !points {
		p.Legend.Add(name, l)
		return nil
	}
	sc, err := plotter.NewScatter(xy)
	if err != nil {
		return fmt.Errorf("runner: plot: %w", err)
	}
	sc.Color = plotutil.Color(i)
	sc.Shape = plotutil.Shape(i)
	p.Add(sc)
	p.Legend.Add(name, l, sc)
	return nil
}
