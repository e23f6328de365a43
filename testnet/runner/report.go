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
// calls.csv (one row per call), per call <scenario>/callNN.json,
// callNN-clicks.csv and callNN-live.csv, summary.md and the PNG plots.
func Write(rep *Report) error {
	if err := os.MkdirAll(rep.Dir, 0o755); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if err := WriteJSON(filepath.Join(rep.Dir, "run.json"), rep); err != nil {
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
			if err := WriteJSON(base+".json", c); err != nil {
				return err
			}
			ch := [][]string{{"index", "at_s", "score", "m2e_ms"}}
			for _, x := range c.Clicks {
				ch = append(ch, []string{strconv.Itoa(x.Index), f3(x.AtS), f3(x.Score), f3(x.M2EMS)})
			}
			if err := writeCSV(base+"-clicks.csv", ch); err != nil {
				return err
			}
			lv := [][]string{{"side", "at_s", "rtt_ms", "jitter_ms", "loss_percent", "jitter_buffer_ms", "jitter_target_ms",
				"frames_played", "frames_concealed", "frames_recovered", "mos"}}
			for _, side := range []struct {
				name string
				s    Side
			}{{"caller", c.Caller}, {"callee", c.Callee}} {
				for _, l := range side.s.Live {
					lv = append(lv, []string{side.name, f3(l.Time.Sub(c.T0).Seconds()), f3(l.RTTMS), f3(l.JitterMS), f3(l.LossPercent),
						f3(l.JitterBufferMS), f3(l.JitterTargetMS), strconv.FormatUint(l.FramesPlayed, 10),
						strconv.FormatUint(l.FramesConcealed, 10), strconv.FormatUint(l.FramesRecovered, 10), f3(l.MOS)})
				}
			}
			if err := writeCSV(base+"-live.csv", lv); err != nil {
				return err
			}
		}
	}
	if err := writeCSV(filepath.Join(rep.Dir, "calls.csv"), rows); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(rep.Dir, "interruptions.csv"), interruptionRows(rep)); err != nil {
		return err
	}
	if rep.Soak != nil {
		if err := writeCSV(filepath.Join(rep.Dir, "soak-flatness.csv"), soakShortRows(rep.Soak)); err != nil {
			return err
		}
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

var callHeader = []string{"scenario", "index", "caller", "callee", "hops", "delay_ms", "jitter_ms", "loss", "concurrent", "pairs", "ok", "error",
	"caller_reason", "callee_reason", "setup_s", "setup_rtts_lokicall", "setup_path_rtts",
	"m2e_p50_ms", "m2e_min_ms", "m2e_p95_ms", "m2e_max_ms", "m2e_stddev_ms", "clicks_found", "clicks_missing",
	"modelled_one_way_ms", "excess_ms", "loopback_ms", "excess_minus_loopback_ms", "excess_over_loopback",
	"path_rtt_rtcp_ms", "network_one_way_ms", "own_ms", "jitter_buffer_live_ms",
	"rtt_ms", "rtt_ice_ms", "jitter_ms", "loss_percent", "jitter_buffer_ms", "frames_played", "frames_concealed", "frames_recovered",
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
	return []string{c.Scenario, strconv.Itoa(c.Index), c.Caller.Node, c.Callee.Node, strconv.Itoa(p.Hops), f3(ms(p.Delay)), f3(ms(p.Jitter)), f3(p.Loss),
		strconv.Itoa(p.Concurrent), strconv.Itoa(p.pairs()),
		strconv.FormatBool(c.OK), c.Error, c.Caller.Reason, c.Callee.Reason, f3(c.SetupS), f3(cs.SetupRTTs), f3(c.SetupRTTs),
		f3(c.M2E.P50), f3(c.M2E.Min), f3(c.M2E.P95), f3(c.M2E.Max), f3(c.M2E.StdDev), strconv.Itoa(len(c.Clicks)), strconv.Itoa(c.ClicksMissing),
		f3(c.ModelledOneWayMS), f3(c.ExcessMS), f3(c.LoopbackMS), f3(c.VsLoopbackMS), f3(c.VsLoopbackRatio),
		f3(c.PathRTTMS), f3(c.NetworkOneWayMS), f3(c.OwnMS), f3(c.JitterBufferMS),
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
	m2e, setup, setupRTT, own, netOW, pathRTT, jitter, loss, jb, mos, mosAudio, excess, vsLoop, ratio []float64
	concealed                                                                                         uint64
	missing, ok, n                                                                                    int
}

func figures(sc *Scenario) scenarioFigures {
	var f scenarioFigures
	for _, c := range sc.Calls {
		f.n++
		if c.OK {
			f.ok++
		}
		for _, ch := range c.Clicks {
			f.m2e = append(f.m2e, ch.M2EMS)
		}
		f.missing += c.ClicksMissing
		if c.SetupS > 0 {
			f.setup = append(f.setup, c.SetupS)
			if c.SetupRTTs > 0 {
				f.setupRTT = append(f.setupRTT, c.SetupRTTs)
			}
		}
		if c.M2E.N > 0 {
			f.excess = append(f.excess, c.ExcessMS)
			f.mosAudio = append(f.mosAudio, c.MOSAudio)
			if c.NetworkOneWayMS > 0 {
				f.own = append(f.own, c.OwnMS)
			}
			if c.LoopbackMS > 0 {
				f.vsLoop = append(f.vsLoop, c.VsLoopbackMS)
				f.ratio = append(f.ratio, c.VsLoopbackRatio)
			}
		}
		if c.NetworkOneWayMS > 0 {
			f.netOW = append(f.netOW, c.NetworkOneWayMS)
			f.pathRTT = append(f.pathRTT, c.PathRTTMS)
		}
		if c.JitterBufferMS > 0 {
			f.jb = append(f.jb, c.JitterBufferMS)
		}
		if s := c.Callee.Stats; s != nil {
			f.jitter = append(f.jitter, s.JitterMS)
			f.loss = append(f.loss, s.LossPercent)
			f.mos = append(f.mos, s.MOS)
			f.concealed += s.FramesConcealed
		}
	}
	return f
}

// dash formats v, or "–" for a missing figure.
func dash(format string, v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func summary(rep *Report, plots []string) string {
	var b strings.Builder
	p := rep.Plan
	fmt.Fprintf(&b, "# lokicall testnet run %s\n\n", filepath.Base(rep.Dir))
	fmt.Fprintf(&b, "Started %s, took %s. Emulated onion network (testnet/README.md). %d call(s) of %s per base scenario; "+
		"caller source: a click train played from a WAV file (%s chirp 800→4000 Hz every %s, measure.ClickConfig); lokicall runs as uid %d.\n\n",
		rep.Started.Format("2006-01-02 15:04:05 MST"), rep.Finished.Sub(rep.Started).Round(1e9), p.Calls, p.Duration,
		rep.Clicks.Length, rep.Clicks.Period, rep.UID)
	b.WriteString("Mouth-to-ear (m2e) is one-way: lokicall stamps every frame it captures (`--capture-stamps`, the caller) and plays " +
		"(`--playout-stamps`, the callee) with the host clock all containers share; each click is found in the callee's recording by " +
		"cross-correlation and its delay is its playout time minus its capture time (measure.AnalyzeFiles). " +
		"Modelled = 2 × hops × per-link delay (each relay delays what it sends). Excess = m2e − modelled: lokicall's own delay " +
		"plus the emulator's processing. Loopback = m2e of calls between two lokicall processes on the host with no network " +
		"(stand-in Lokinet DNS, same binary, source and stamps), measured in this run: lokicall's own delay alone. " +
		"Network one-way = half lokicall's RTCP round trip (median of the caller's `live` events); own = m2e − network one-way. " +
		"Jitter buffer, jitter, loss and concealment are the callee's (the receiving side). MOS (lokicall) is lokicall's E-model " +
		"from RTT/2; MOS (audio) the same E-model with the measured m2e.\n\n")
	if rep.LoopbackMS > 0 {
		fmt.Fprintf(&b, "**Loopback baseline: %.1f ms** (median m2e over all loopback clicks).\n\n", rep.LoopbackMS)
	}
	b.WriteString("## Mouth-to-ear = modelled path + lokicall's own delay\n\n")
	b.WriteString("| scenario | hops | delay | jitter | loss | pairs × calls | calls ok | clicks (missing) | m2e p50 ms | m2e p95 ms | modelled ms | excess ms | loopback ms | excess − loopback ms | excess / loopback | network one-way ms | own ms | jitter buffer ms |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range rep.Scenarios {
		f := figures(sc)
		m := Summarize(f.m2e)
		pr := sc.Params
		model := ms(pr.ModelledOneWay())
		excess := m.P50 - model
		hasLoop := rep.LoopbackMS > 0 && m.N > 0 && sc.Name != "loopback"
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %g%% | %d × %d | %d/%d | %d (%d) | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s |\n",
			sc.Name, pr.Hops, pr.Delay, pr.Jitter, pr.Loss*100, pr.pairs(), max(1, pr.Concurrent), f.ok, f.n, m.N, f.missing,
			dash("%.1f", m.P50, m.N > 0), dash("%.1f", m.P95, m.N > 0), model, dash("%.1f", excess, m.N > 0),
			dash("%.1f", rep.LoopbackMS, hasLoop), dash("%+.1f", excess-rep.LoopbackMS, hasLoop), dash("%.2f", excess/rep.LoopbackMS, hasLoop),
			dash("%.1f", Summarize(f.netOW).Mean, len(f.netOW) > 0), dash("%.1f", Summarize(f.own).Mean, len(f.own) > 0),
			dash("%.1f", Summarize(f.jb).Mean, len(f.jb) > 0))
	}
	b.WriteString("\n## Per call\n\n")
	b.WriteString("| scenario | call | nodes | ok | m2e p50 ms | modelled ms | excess ms | excess − loopback ms | excess / loopback | own ms | jitter buffer ms |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range rep.Scenarios {
		for _, c := range sc.Calls {
			if c.Kill != nil || c.Dynamics != nil {
				continue
			}
			ok := c.M2E.N > 0
			loop := ok && c.LoopbackMS > 0
			fmt.Fprintf(&b, "| %s | %d | %s → %s | %v | %s | %.1f | %s | %s | %s | %s | %s |\n", sc.Name, c.Index, c.Caller.Node, c.Callee.Node, c.OK,
				dash("%.1f", c.M2E.P50, ok), c.ModelledOneWayMS, dash("%.1f", c.ExcessMS, ok), dash("%+.1f", c.VsLoopbackMS, loop),
				dash("%.2f", c.VsLoopbackRatio, loop), dash("%.1f", c.OwnMS, ok && c.NetworkOneWayMS > 0), dash("%.1f", c.JitterBufferMS, c.JitterBufferMS > 0))
		}
	}
	b.WriteString("\n## Call quality\n\n")
	b.WriteString("| scenario | setup s | setup path RTTs | path RTT (RTCP) ms | jitter ms | loss % | concealed | MOS lokicall | MOS audio |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range rep.Scenarios {
		f := figures(sc)
		fmt.Fprintf(&b, "| %s | %.2f | %.1f | %.1f | %.1f | %.2f | %d | %.2f | %.2f |\n",
			sc.Name, Summarize(f.setup).Mean, Summarize(f.setupRTT).Mean, Summarize(f.pathRTT).Mean, Summarize(f.jitter).Mean,
			Summarize(f.loss).Mean, f.concealed, Summarize(f.mos).Mean, Summarize(f.mosAudio).Mean)
	}
	b.WriteString("\n## Leak proof\n\n")
	lp := rep.Leak
	verdict := "PASSED"
	if !lp.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "%s. nftables counters on each node for packets sent by uid %d: %d into lokitun0, %d to Lokinet's resolver "+
		"(127.3.2.1 on loopback), **%d anywhere else**, over all testnet calls.", verdict, rep.UID, lp.LokinetPackets, lp.ResolverPackets, lp.Leaked)
	if p.NegativeControl {
		fmt.Fprintf(&b, " Negative control (lokinet-emu leak, same uid, %d datagrams to a relay's underlay address): %d counted, flagged: %v.",
			lp.ControlSent, lp.ControlCounted, lp.ControlFlagged)
	}
	b.WriteString("\n")
	for _, sc := range rep.Scenarios {
		for _, c := range sc.Calls {
			if k := c.Kill; k != nil {
				b.WriteString("\n## Relay killed mid-call\n\n")
				fmt.Fprintf(&b, "Killed %s (%s, on %s's path) %.1f s after the caller went active, during a %s call of a 1 kHz tone. "+
					"Longest gap in the callee's recording: %.0f ms (%d gap(s) ≥ 40 ms: %v). The caller's node logged a path outage of %.0f ms. "+
					"The callee concealed %d frames, recovered %d by FEC. lokicall: caller ended %q, callee ended %q: %s.\n",
					k.Relay, k.Address, c.Caller.Node, k.AtS, p.Duration, k.LongestGapMS, len(k.Gaps), k.Gaps, k.NodeOutageMS,
					statsOr(c.Callee.Stats).FramesConcealed, statsOr(c.Callee.Stats).FramesRecovered, c.Caller.Reason, c.Callee.Reason,
					map[bool]string{true: "the call recovered and completed", false: "the call did not complete"}[k.Recovered])
			}
		}
	}
	writeDynamics(&b, rep)
	if rep.Soak != nil {
		writeSoakShort(&b, rep.Soak)
	}
	if rep.Failed > 0 {
		b.WriteString("\n## Failed calls\n\n")
		b.WriteString("Each a result of its scenario, not a failure of the run (unless -strict).\n\n")
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
	b.WriteString("\nFiles: run.json (everything), calls.csv (one row per call), <scenario>/callNN.json, callNN-clicks.csv (each click's " +
		"capture time and m2e), callNN-live.csv (both sides' `live` events), <scenario>/callNN-{caller,callee}.{jsonl,log} (lokicall's " +
		"events and debug logs), callNN-{capture,playout}.csv (lokicall's stamps), callNN-callee.wav (the callee's recording), " +
		"callNN-source.wav (the caller's source), interruptions.csv (the dynamics scenarios' interruption table).\n")
	return b.String()
}

func statsOr(s *LokicallStats) LokicallStats {
	if s == nil {
		return LokicallStats{}
	}
	return *s
}
