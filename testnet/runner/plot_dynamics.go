package runner

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// dynamicsPlot is one dynamics call over time: the callee's jitter-buffer
// delay, the path one-way (caller's RTCP RTT/2), the audio concealed per
// second and each interruption (its length, at its start).
func dynamicsPlot(c *CallResult) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: one call over time (%s → %s)", c.Scenario, c.Caller.Node, c.Callee.Node)
	p.X.Label.Text = "time since the caller went active (s)"
	p.Y.Label.Text = "ms"
	var jb, ow, conc, gaps plotter.XYs
	var prev *LiveSample
	for i := range c.Callee.Live {
		l := &c.Callee.Live[i]
		t := l.Time.Sub(c.T0).Seconds()
		if l.FramesPlayed > 0 {
			jb = append(jb, plotter.XY{X: t, Y: l.JitterBufferMS})
		}
		if prev != nil && l.FramesConcealed >= prev.FramesConcealed {
			if dt := l.Time.Sub(prev.Time).Seconds(); dt > 0 {
				conc = append(conc, plotter.XY{X: t, Y: float64(l.FramesConcealed-prev.FramesConcealed) * 20 / dt})
			}
		}
		prev = l
	}
	for _, l := range c.Caller.Live {
		if l.RTTMS > 0 {
			ow = append(ow, plotter.XY{X: l.Time.Sub(c.T0).Seconds(), Y: l.RTTMS / 2})
		}
	}
	for _, in := range c.Dynamics.Interruptions {
		gaps = append(gaps, plotter.XY{X: in.AtS, Y: in.LengthMS})
	}
	n := 0
	for _, sr := range []struct {
		name   string
		xy     plotter.XYs
		points bool
	}{{"jitter buffer delay (callee)", jb, false}, {"path one-way (RTCP RTT/2)", ow, false},
		{"audio concealed per second (ms/s)", conc, false}, {"interruption length (at its start)", gaps, true}} {
		if len(sr.xy) == 0 {
			continue
		}
		if sr.points {
			s, err := plotter.NewScatter(sr.xy)
			if err != nil {
				return nil, fmt.Errorf("runner: plot: %w", err)
			}
			p.Add(s)
			p.Legend.Add(sr.name, s)
			continue
		}
		if err := addSeries(p, n, sr.name, sr.xy, false); err != nil {
			return nil, err
		}
		n++
	}
	p.Legend.Top = true
	p.Y.Min = 0
	p.Y.Max *= 1.3
	return p, nil
}
