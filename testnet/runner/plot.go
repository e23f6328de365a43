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
	cdf.Title.Text = "Mouth-to-ear delay (one-way), CDF over all chirps of all calls"
	cdf.X.Label.Text = "mouth-to-ear (ms)"
	cdf.Y.Label.Text = "fraction of chirps"
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

	// Within one call: m2e per chirp and the path's one-way delay and jitter.
	var call *CallResult
	for _, sc := range rep.Scenarios {
		for i := range sc.Calls {
			if call == nil && sc.Calls[i].M2E.N > 0 {
				call = &sc.Calls[i]
			}
		}
	}
	if call != nil {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("One call over time (%s, call %d)", call.Scenario, call.Index)
		p.X.Label.Text = "time in the call (s)"
		p.Y.Label.Text = "ms"
		var m2e, ow, jit plotter.XYs
		for _, ch := range call.Chirps {
			if ch.Found {
				m2e = append(m2e, plotter.XY{X: ch.SourceAt, Y: ch.M2EMS})
			}
		}
		half := make([]float64, len(call.Path.RTTms))
		for i, v := range call.Path.RTTms {
			half[i] = v / 2
		}
		// udpping starts with the dial, a little before audio: the time
		// axis of the path series is approximate by the setup time.
		offset := 0.0
		if call.SetupS > 0 {
			offset = call.SetupS
		}
		for i, j := range rfcJitter(half) {
			t := float64(i) / 10
			if i < len(call.Path.AtMS) {
				t = call.Path.AtMS[i]/1000 - offset
			}
			ow = append(ow, plotter.XY{X: t, Y: half[i]})
			jit = append(jit, plotter.XY{X: t, Y: j})
		}
		if err := plotutil.AddLinePoints(p, "mouth-to-ear (per chirp)", m2e); err != nil {
			return names, fmt.Errorf("runner: plot: %w", err)
		}
		if err := plotutil.AddLines(p, "path one-way (UDP RTT/2)", ow, "path jitter (RFC 3550)", jit); err != nil {
			return names, fmt.Errorf("runner: plot: %w", err)
		}
		p.Y.Min = 0
		p.Y.Max *= 1.15 // room for the legend above the highest line
		if err := save(p, "m2e_jitter_time.png"); err != nil {
			return names, err
		}
	}

	// m2e against hops (the hops sweep, plus the base scenario).
	byHops := map[int][]float64{}
	delay := rep.Plan.Base.Delay
	for _, sc := range rep.Scenarios {
		if sc.Sweep == "hops" || sc.Name == "base" {
			byHops[sc.Params.Hops] = append(byHops[sc.Params.Hops], figures(sc).m2e...)
		}
	}
	if len(byHops) > 1 {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Mouth-to-ear against hops per side (per-link delay %s)", delay)
		p.X.Label.Text = "relays per path (each side)"
		p.Y.Label.Text = "ms (one-way)"
		var hs []int
		for h := range byHops {
			hs = append(hs, h)
		}
		sort.Ints(hs)
		var med, model, all plotter.XYs
		for _, h := range hs {
			s := Summarize(byHops[h])
			if s.N > 0 {
				med = append(med, plotter.XY{X: float64(h), Y: s.P50})
			}
			model = append(model, plotter.XY{X: float64(h), Y: ms(Params{Hops: h, Delay: delay}.ModelledOneWay())})
			for _, v := range byHops[h] {
				all = append(all, plotter.XY{X: float64(h), Y: v})
			}
		}
		sc, err := plotter.NewScatter(all)
		if err != nil {
			return names, fmt.Errorf("runner: plot: %w", err)
		}
		sc.Color = color.Gray{Y: 160}
		p.Add(sc)
		p.Legend.Add("each chirp", sc)
		if err := plotutil.AddLinePoints(p, "m2e median", med, "modelled path (2 × hops × delay)", model); err != nil {
			return names, fmt.Errorf("runner: plot: %w", err)
		}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Y.Min = 0
		if err := save(p, "m2e_vs_hops.png"); err != nil {
			return names, err
		}
	}
	return names, nil
}
