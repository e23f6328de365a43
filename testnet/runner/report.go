package runner

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Write writes the report's files into rep.Dir: run.json (everything),
// calls.csv (one row per call), per call <scenario>/callNN.json and
// callNN-chirps.csv, summary.md and the PNG plots.
func Write(rep *Report) error {
	if err := os.MkdirAll(rep.Dir, 0o755); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if err := writeJSON(filepath.Join(rep.Dir, "run.json"), rep); err != nil {
		return err
	}
	var rows [][]string
	rows = append(rows, callHeader)
	for _, sc := range rep.Scenarios {
		if err := os.MkdirAll(filepath.Join(rep.Dir, sc.Name), 0o755); err != nil {
			return fmt.Errorf("runner: %w", err)
		}
		for i := range sc.Calls {
			c := &sc.Calls[i]
			rows = append(rows, callRow(c))
			base := filepath.Join(rep.Dir, sc.Name, fmt.Sprintf("call%02d", c.Index))
			if err := writeJSON(base+".json", c); err != nil {
				return err
			}
			ch := [][]string{{"index", "source_at_s", "found", "score", "m2e_ms"}}
			for _, x := range c.Chirps {
				ch = append(ch, []string{strconv.Itoa(x.Index), f3(x.SourceAt), strconv.FormatBool(x.Found), f3(x.Score), f3(x.M2EMS)})
			}
			if err := writeCSV(base+"-chirps.csv", ch); err != nil {
				return err
			}
		}
	}
	if err := writeCSV(filepath.Join(rep.Dir, "calls.csv"), rows); err != nil {
		return err
	}
	plots, err := writePlots(rep)
	if err != nil {
		return err
	}
	md := summary(rep, plots)
	if err := os.WriteFile(filepath.Join(rep.Dir, "summary.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}

var callHeader = []string{"scenario", "index", "hops", "delay_ms", "jitter_ms", "loss", "concurrent", "ok", "error",
	"caller_reason", "callee_reason", "setup_s", "setup_rtts_lokicall", "setup_path_rtts",
	"m2e_p50_ms", "m2e_min_ms", "m2e_max_ms", "m2e_stddev_ms", "chirps_found", "chirps_sent",
	"modelled_one_way_ms", "network_one_way_ms", "own_ms", "path_rtt_avg_ms", "path_jitter_ms", "path_lost",
	"rtt_rtcp_ms", "rtt_ice_ms", "jitter_ms", "loss_percent", "jitter_buffer_ms", "frames_played", "frames_concealed", "frames_recovered",
	"mos_lokicall", "mos_audio"}

func callRow(c *CallResult) []string {
	p := c.Params
	var cs, es LokicallStats
	if c.Caller.Stats != nil {
		cs = *c.Caller.Stats
	}
	if c.Callee.Stats != nil {
		es = *c.Callee.Stats
	}
	return []string{c.Scenario, strconv.Itoa(c.Index), strconv.Itoa(p.Hops), f3(ms(p.Delay)), f3(ms(p.Jitter)), f3(p.Loss), strconv.Itoa(p.Concurrent),
		strconv.FormatBool(c.OK), c.Error, c.Caller.Reason, c.Callee.Reason, f3(c.SetupS), f3(cs.SetupRTTs), f3(c.SetupRTTs),
		f3(c.M2E.P50), f3(c.M2E.Min), f3(c.M2E.Max), f3(c.M2E.StdDev), strconv.Itoa(c.ChirpsFound), strconv.Itoa(len(c.Chirps)),
		f3(c.ModelledOneWayMS), f3(c.NetworkOneWayMS), f3(c.OwnMS), f3(c.Path.AvgMS), f3(c.Path.JitterMS), strconv.Itoa(len(c.Path.Lost)),
		f3(es.RTTMS), f3(es.ICERTTMS), f3(es.JitterMS), f3(es.LossPercent), f3(es.JitterBufferMS),
		strconv.FormatUint(es.FramesPlayed, 10), strconv.FormatUint(es.FramesConcealed, 10), strconv.FormatUint(es.FramesRecovered, 10),
		f3(es.MOS), f3(c.MOSAudio)}
}

func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.WriteAll(rows)
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("runner: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}

// scenarioFigures are a scenario's calls pooled.
type scenarioFigures struct {
	m2e, setup, setupRTT, own, netOW, pathRTT, jitter, loss, jb, mos, mosAudio []float64
	concealed                                                                  uint64
	ok, n                                                                      int
}

func figures(sc *Scenario) scenarioFigures {
	var f scenarioFigures
	for _, c := range sc.Calls {
		f.n++
		if c.OK {
			f.ok++
		}
		for _, ch := range c.Chirps {
			if ch.Found {
				f.m2e = append(f.m2e, ch.M2EMS)
			}
		}
		if c.SetupS > 0 {
			f.setup = append(f.setup, c.SetupS)
			f.setupRTT = append(f.setupRTT, c.SetupRTTs)
		}
		if c.M2E.N > 0 {
			f.own = append(f.own, c.OwnMS)
			f.mosAudio = append(f.mosAudio, c.MOSAudio)
		}
		if c.NetworkOneWayMS > 0 {
			f.netOW = append(f.netOW, c.NetworkOneWayMS)
			f.pathRTT = append(f.pathRTT, c.Path.AvgMS)
		}
		if s := c.Callee.Stats; s != nil {
			f.jitter = append(f.jitter, s.JitterMS)
			f.loss = append(f.loss, s.LossPercent)
			f.jb = append(f.jb, s.JitterBufferMS)
			f.mos = append(f.mos, s.MOS)
			f.concealed += s.FramesConcealed
		}
	}
	return f
}

func summary(rep *Report, plots []string) string {
	var b strings.Builder
	p := rep.Plan
	fmt.Fprintf(&b, "# lokicall testnet run %s\n\n", filepath.Base(rep.Dir))
	fmt.Fprintf(&b, "Started %s, took %s. Emulated onion network (testnet/README.md). %d call(s) of %s per base scenario; "+
		"caller source: a chirp train (%s chirp %g→%g Hz every %s); lokicall runs as uid %d.\n\n",
		rep.Started.Format("2006-01-02 15:04:05 MST"), rep.Finished.Sub(rep.Started).Round(1e9), p.Calls, p.Duration,
		rep.Chirps.Length, rep.Chirps.F0, rep.Chirps.F1, rep.Chirps.Period, rep.UID)
	b.WriteString("Mouth-to-ear (m2e) is one-way: capture of a chirp at alice's source to its playout at bob's sink, both " +
		"timestamps on the host clock the containers share, found by cross-correlation in bob's recording. " +
		"Modelled = 2 × hops × per-link delay (each relay delays what it sends). Network one-way = half the median UDP " +
		"round trip on the same path during the call. lokicall's own part = m2e − network one-way (framing, Opus, " +
		"jitter buffer, playout, plus the emulator's processing). MOS (lokicall) is lokicall's own E-model from RTT/2; " +
		"MOS (audio) is the same E-model with the measured m2e. Jitter, loss, jitter buffer and concealment are bob's " +
		"(the receiving side).\n\n")
	b.WriteString("| scenario | hops | delay | jitter | loss | calls ok | m2e p50 ms | m2e p95 ms | modelled one-way ms | network one-way ms | lokicall own ms | setup s | setup path RTTs | path RTT ms | jitter ms | loss % | jitter buffer ms | concealed | MOS lokicall | MOS audio |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range rep.Scenarios {
		f := figures(sc)
		m := Summarize(f.m2e)
		pr := sc.Params
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %g%% | %d/%d | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.2f | %.0f | %d | %.2f | %.2f |\n",
			sc.Name, pr.Hops, pr.Delay, pr.Jitter, pr.Loss*100, f.ok, f.n, m.P50, m.P95, ms(pr.ModelledOneWay()),
			Summarize(f.netOW).Mean, Summarize(f.own).Mean, Summarize(f.setup).Mean, Summarize(f.setupRTT).Mean,
			Summarize(f.pathRTT).Mean, Summarize(f.jitter).Mean, Summarize(f.loss).Mean, Summarize(f.jb).Mean, f.concealed,
			Summarize(f.mos).Mean, Summarize(f.mosAudio).Mean)
	}
	b.WriteString("\n## Leak proof\n\n")
	lp := rep.Leak
	verdict := "PASSED"
	if !lp.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "%s. nftables counters on each node for packets sent by uid %d: %d into lokitun0, %d to Lokinet's resolver "+
		"(127.3.2.1 on loopback), **%d anywhere else**, over all calls.", verdict, rep.UID, lp.LokinetPackets, lp.ResolverPackets, lp.Leaked)
	if p.NegativeControl {
		fmt.Fprintf(&b, " Negative control (lokinet-emu leak, same uid, %d datagrams to a relay's underlay address): %d counted, flagged: %v.",
			lp.ControlSent, lp.ControlCounted, lp.ControlFlagged)
	}
	b.WriteString("\n")
	for _, sc := range rep.Scenarios {
		for _, c := range sc.Calls {
			if k := c.Kill; k != nil {
				b.WriteString("\n## Relay killed mid-call\n\n")
				fmt.Fprintf(&b, "Killed %s (%s, on alice's path) %.1f s after the caller went active, during a %s call of a 1 kHz tone. "+
					"Longest gap in bob's recording: %.0f ms (%d gap(s) ≥ 40 ms: %v). Alice's node logged a path outage of %.0f ms. "+
					"Bob concealed %d frames, recovered %d by FEC. lokicall: caller ended %q, callee ended %q: %s.\n",
					k.Relay, k.Address, k.AtS, p.Duration, k.LongestGapMS, len(k.Gaps), k.Gaps, k.NodeOutageMS,
					statsOr(c.Callee.Stats).FramesConcealed, statsOr(c.Callee.Stats).FramesRecovered, c.Caller.Reason, c.Callee.Reason,
					map[bool]string{true: "the call recovered and completed", false: "the call did not complete"}[k.Recovered])
			}
		}
	}
	if rep.Failed > 0 {
		b.WriteString("\n## Failed calls\n\n")
		for _, sc := range rep.Scenarios {
			for _, c := range sc.Calls {
				if !c.OK {
					fmt.Fprintf(&b, "- %s call %d: %s\n", sc.Name, c.Index, c.Error)
				}
			}
		}
	}
	if len(plots) > 0 {
		b.WriteString("\n## Plots\n\n")
		for _, pl := range plots {
			fmt.Fprintf(&b, "![%s](%s)\n", pl, pl)
		}
	}
	b.WriteString("\nFiles: run.json (everything), calls.csv (one row per call), <scenario>/callNN.json and callNN-chirps.csv, " +
		"<scenario>/callNN-{caller,callee}.{jsonl,log} (lokicall's events and debug logs), callNN-callee.wav (bob's recording).\n")
	return b.String()
}

func statsOr(s *LokicallStats) LokicallStats {
	if s == nil {
		return LokicallStats{}
	}
	return *s
}
