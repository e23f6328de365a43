package runner

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// SoakShort is a soak's short form in the report of the run it is part
// of: where its own report is, how it ended and its flatness table.
type SoakShort struct {
	// Dir is the soak's report folder, relative to the run's.
	Dir  string   `json:"dir"`
	Plan SoakPlan `json:"plan"`
	// OK: the soak's call completed; otherwise Error says why it or the
	// soak failed (a result of the run, not its failure, unless -strict).
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Series is the flatness table, one row per process and figure.
	Series []SoakLine `json:"series"`
	// Plots are the soak's PNG files, relative to the run's folder.
	Plots []string `json:"plots"`
}

// SoakLine is one row of a soak's flatness table: a figure of one side
// from its first to its last point, the slope of the call's second half
// and the verdict.
type SoakLine struct {
	Name         string  `json:"name"`
	Side         string  `json:"side"`
	Unit         string  `json:"unit"`
	Points       int     `json:"points"`
	Start        float64 `json:"start"`
	End          float64 `json:"end"`
	SlopePerHour float64 `json:"second_half_slope_per_hour"`
	Drift        float64 `json:"drift"`
	Threshold    float64 `json:"threshold"`
	Flat         bool    `json:"flat"`
	TooFewPoints bool    `json:"too_few_points,omitempty"`
}

// soakShort is the short form of a soak whose report is in the folder dir
// of the run's (sr nil: the soak stopped before it had one), err what
// Runner.soak returned.
func soakShort(plan SoakPlan, dir string, sr *SoakReport, err error) *SoakShort {
	s := &SoakShort{Dir: dir, Plan: plan, Series: []SoakLine{}, Plots: []string{}}
	if err != nil {
		s.Error = err.Error()
	}
	if sr == nil {
		return s
	}
	if sc := sr.Run.Scenarios; len(sc) > 0 && len(sc[0].Calls) > 0 {
		c := sc[0].Calls[0]
		s.OK = c.OK && err == nil
		if !c.OK && s.Error == "" {
			s.Error = c.Error
		}
	}
	for _, se := range sr.Series {
		l := SoakLine{Name: se.Name, Side: se.Side, Unit: se.Unit, Points: len(se.Points), SlopePerHour: se.Flat.SlopePerHour,
			Drift: se.Flat.Drift, Threshold: se.Flat.Threshold, Flat: se.Flat.Flat, TooFewPoints: se.Flat.TooFewPoints}
		if n := len(se.Points); n > 0 {
			l.Start, l.End = se.Points[0].Value, se.Points[n-1].Value
		}
		s.Series = append(s.Series, l)
	}
	for _, p := range sr.Plots {
		s.Plots = append(s.Plots, path.Join(dir, p))
	}
	return s
}

// verdict is the line's flatness in a word.
func (l SoakLine) verdict() string {
	switch {
	case l.TooFewPoints:
		return "too few points"
	case l.Flat:
		return "yes"
	}
	return "**no**"
}

// soakShortRows is the flatness table as CSV rows (soak-flatness.csv).
func soakShortRows(s *SoakShort) [][]string {
	rows := [][]string{{"series", "side", "unit", "points", "start", "end", "second_half_slope_per_hour", "drift", "threshold", "flat", "too_few_points"}}
	for _, l := range s.Series {
		rows = append(rows, []string{l.Name, l.Side, l.Unit, strconv.Itoa(l.Points), f3(l.Start), f3(l.End), f3(l.SlopePerHour),
			f3(l.Drift), f3(l.Threshold), strconv.FormatBool(l.Flat), strconv.FormatBool(l.TooFewPoints)})
	}
	return rows
}

// writeSoakShort adds the soak's section to a run's summary.
func writeSoakShort(b *strings.Builder, s *SoakShort) {
	p := s.Plan
	b.WriteString("\n## Soak\n\n")
	fmt.Fprintf(b, "One call alice → bob of %s through session swaps (every %s), path expiry (lifetime %s), a relay killed at %s "+
		"and %s's daemon restarted at %s; both lokicall processes sampled every %s. Full report: [%s/summary.md](%s/summary.md) "+
		"(soak.md, soak.json, soak-series.csv, soak-samples.csv there); this table is also soak-flatness.csv.\n\n",
		p.Duration, p.SwapPeriod, p.PathLifetime, p.KillAt, p.RestartNode, p.RestartAt, p.Sample, s.Dir, s.Dir)
	if s.OK {
		b.WriteString("The call completed.\n\n")
	} else {
		fmt.Fprintf(b, "**The soak failed**: %s (a result of this run, not its failure, unless -strict).\n\n", s.Error)
	}
	if len(s.Series) > 0 {
		b.WriteString("| side | figure | points | start → end | 2nd half slope /h | drift (threshold) | flat |\n|---|---|---|---|---|---|---|\n")
		for _, l := range s.Series {
			if l.TooFewPoints {
				fmt.Fprintf(b, "| %s | %s | %d | – | – | – | %s |\n", l.Side, l.Name, l.Points, l.verdict())
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %d | %.1f → %.1f %s | %+.2f | %+.2f (%.2f) | %s |\n", l.Side, l.Name, l.Points,
				l.Start, l.End, l.Unit, l.SlopePerHour, l.Drift, l.Threshold, l.verdict())
		}
		b.WriteString("\n")
	}
	for _, pl := range s.Plots {
		fmt.Fprintf(b, "![%s](%s)\n", path.Base(pl), pl)
	}
}

// soakStep runs the plan's soak on the testnet as it is given (the soak
// brings it up with its own dynamics) with its report in the run's
// folder, and adds the short form and the soak's leak counters to the
// run's report. A failed soak is a result unless the plan is strict; a
// leak is counted in the run's leak proof.
func (ru *running) soakStep(ctx context.Context) error {
	plan := DefaultSoakPlan(ru.plan.Soak)
	ru.progress("soak", fmt.Sprintf("one call of %s", plan.Duration))
	ru.current = nil // the soak's dynamics: the testnet must be brought up again
	sr, err := ru.soak(ctx, plan, ru.runName+"/soak")
	ru.rep.Soak = soakShort(plan, "soak", sr, err)
	if sr != nil && sr.Run != nil {
		lp := &ru.rep.Leak
		lp.LokinetPackets += sr.Run.Leak.LokinetPackets
		lp.ResolverPackets += sr.Run.Leak.ResolverPackets
		lp.Leaked += sr.Run.Leak.Leaked
	}
	switch {
	case err == nil, errors.Is(err, ErrLeak): // a leak is the run's verdict, given in finish
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case ru.plan.Strict:
		return fmt.Errorf("soak: %w", err)
	}
	ru.log().Warn("soak failed", "err", err)
	return nil
}
