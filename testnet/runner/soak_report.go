package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writeSoak adds a soak's own files to its run's folder: soak.json,
// soak-series.csv (every series point), soak-samples.csv (the raw process
// samples), the plots over time, soak.md, which is also appended to the
// run's summary.md.
func writeSoak(sr *SoakReport) error {
	dir := sr.Run.Dir
	plots, err := soakPlots(sr)
	if err != nil {
		return err
	}
	sr.Plots = plots
	if err := WriteJSON(filepath.Join(dir, "soak.json"), sr); err != nil {
		return err
	}
	rows := [][]string{{"series", "side", "unit", "at_s", "value"}}
	for _, s := range sr.Series {
		for _, p := range s.Points {
			rows = append(rows, []string{s.Name, s.Side, s.Unit, f3(p.AtS), f3(p.Value)})
		}
	}
	if err := writeCSV(filepath.Join(dir, "soak-series.csv"), rows); err != nil {
		return err
	}
	rows = [][]string{{"side", "at_s", "rss_mb", "cpu_s", "cpu_percent", "threads"}}
	for _, s := range sr.Samples {
		rows = append(rows, []string{s.Side, f3(s.AtS), f3(s.RSSMB), f3(s.CPUSeconds), f3(s.CPUPercent), strconv.Itoa(s.Threads)})
	}
	if err := writeCSV(filepath.Join(dir, "soak-samples.csv"), rows); err != nil {
		return err
	}
	md := soakSummary(sr, plots)
	if err := os.WriteFile(filepath.Join(dir, "soak.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "summary.md"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n%s", md)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}

// soakPlots draws one plot per figure over the call: memory, CPU,
// goroutines (both sides) and the callee's jitter-buffer delay and m2e.
func soakPlots(sr *SoakReport) ([]string, error) {
	groups := []struct {
		file, title, ylabel string
		names               []string
	}{
		{"soak_memory.png", "Resident memory of each lokicall process", "MB", []string{"rss_mb"}},
		{"soak_cpu.png", "CPU of each lokicall process (per 10 s sample)", "% of one core", []string{"cpu_percent"}},
		{"soak_goroutines.png", "Goroutines of each lokicall process (live events)", "goroutines", []string{"goroutines"}},
		{"soak_delay.png", "Mouth-to-ear and the callee's jitter-buffer delay", "ms", []string{"m2e_ms", "jitter_buffer_ms"}},
	}
	var names []string
	for _, g := range groups {
		p := plot.New()
		p.Title.Text = g.title + fmt.Sprintf(" (%s call)", sr.Plan.Duration)
		p.X.Label.Text = "time since the caller went active (s)"
		p.Y.Label.Text = g.ylabel
		n := 0
		for _, s := range sr.Series {
			if !slices.Contains(g.names, s.Name) || len(s.Points) == 0 {
				continue
			}
			xy := make(plotter.XYs, len(s.Points))
			for i, pt := range s.Points {
				xy[i] = plotter.XY{X: pt.AtS, Y: pt.Value}
			}
			verdict := "flat"
			if !s.Flat.Flat {
				verdict = "NOT flat"
				if s.Flat.TooFewPoints {
					verdict = "too few points"
				}
			}
			if err := addSeries(p, n, fmt.Sprintf("%s %s (%s)", s.Side, s.Name, verdict), xy, true); err != nil {
				return names, err
			}
			n++
		}
		if n == 0 {
			continue
		}
		for _, e := range sr.Events {
			if e.Node != "runner" || strings.Contains(e.Kind, "again") {
				continue
			}
			if err := addMarker(p, e.AtS, e.Kind); err != nil {
				return names, err
			}
		}
		p.Legend.Top = true
		p.Y.Min = 0
		p.Y.Max *= 1.4
		if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(sr.Run.Dir, g.file)); err != nil {
			return names, fmt.Errorf("runner: plot %s: %w", g.file, err)
		}
		names = append(names, g.file)
	}
	return names, nil
}

// addMarker labels a moment of the call at the foot of a plot.
func addMarker(p *plot.Plot, at float64, label string) error {
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: at, Y: 0}}, Labels: []string{"▲ " + label}})
	if err != nil {
		return fmt.Errorf("runner: plot: %w", err)
	}
	p.Add(l)
	return nil
}

// soakSummary is the soak's Markdown section.
func soakSummary(sr *SoakReport, plots []string) string {
	var b strings.Builder
	p := sr.Plan
	b.WriteString("## Soak\n\n")
	fmt.Fprintf(&b, "One call alice → bob of %s (%s), session swaps `%s` every %s, path lifetime %s, "+
		"a relay on alice's path killed at %s (started again %s later), %s's daemon restarted at %s (down %s); "+
		"both lokicall processes sampled every %s (`lokinet-emu procstat`: /proc in the node's container; goroutines from lokicall's `--json` live events).\n\n",
		p.Duration, p.Params.Name(), p.SessionSwap, p.SwapPeriod, p.PathLifetime, p.KillAt, p.RelayBackAfter, p.RestartNode, p.RestartAt, p.RestartDown, p.Sample)
	fmt.Fprintf(&b, "**Flatness test**: the call is split at half its length; the least-squares slope of the second half times that half's span "+
		"is the drift; a series is flat when |drift| ≤ max(2 × the first half's standard deviation, the figure's floor). "+
		"Points within %s after the relay kill and the daemon restart are left out. One point per %s (CPU: the share of one core over "+
		"the sample; goroutines: the last live event; jitter buffer: the mean of the callee's live events; m2e: the median of the clicks).\n\n",
		p.Settle, p.Sample)
	b.WriteString("| figure | side | points | 1st half mean ± sd | 2nd half mean | 2nd half slope /h | drift | threshold | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sr.Series {
		f := s.Flat
		verdict := "**flat**"
		switch {
		case f.TooFewPoints:
			verdict = "too few points"
		case !f.Flat:
			verdict = "**NOT flat**"
		}
		if f.TooFewPoints {
			fmt.Fprintf(&b, "| %s | %s | %d | – | – | – | – | – | %s (3 a half needed) |\n", s.Name, s.Side, f.N, verdict)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f ± %.2f | %.2f | %+.2f | %+.2f | %.2f | %s |\n",
			s.Name, s.Side, f.N, f.FirstMean, f.FirstSD, f.SecondMean, f.SlopePerHour, f.Drift, f.Threshold, verdict)
	}
	b.WriteString("\n**Dynamics seen** (nodes' control sockets at the end of the call): ")
	for _, n := range []string{"alice", "bob"} {
		st := sr.Status[n]
		fmt.Fprintf(&b, "%s: %d session swaps, %d paths expired and replaced, %d rebuilt after a failure, %d daemon restarts. ",
			n, st.Swaps, st.PathsExpired, st.PathsRebuilt, st.Restarts)
	}
	b.WriteString("\n\n| at s | node | event | detail |\n|---|---|---|---|\n")
	for _, e := range sr.Events {
		if e.Kind == "session replaced" {
			continue // counted above: one every swap period
		}
		fmt.Fprintf(&b, "| %.1f | %s | %s | %s |\n", e.AtS, e.Node, e.Kind, e.Detail)
	}
	c := sr.Run.Scenarios[0].Calls[0]
	es := statsOr(c.Callee.Stats)
	fmt.Fprintf(&b, "\nThe call: caller ended %q, callee ended %q; m2e p50 %.1f ms (p95 %.1f, max %.1f) over %d clicks, %d missing; "+
		"the callee concealed %d of %d frames, loss %.2f %%.\n", c.Caller.Reason, c.Callee.Reason, c.M2E.P50, c.M2E.P95, c.M2E.Max,
		c.M2E.N, c.ClicksMissing, es.FramesConcealed, es.FramesPlayed, es.LossPercent)
	if len(plots) > 0 {
		b.WriteString("\n")
		for _, pl := range plots {
			fmt.Fprintf(&b, "![%s](%s)\n", pl, pl)
		}
	}
	b.WriteString("\nFiles: soak.json (plan, samples, events, series and verdicts), soak-series.csv, soak-samples.csv.\n")
	return b.String()
}
