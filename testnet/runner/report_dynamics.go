package runner

import (
	"fmt"
	"strconv"
	"strings"
)

func optF(format string, v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf(format, *v)
}

func optCSV(v *float64) string {
	if v == nil {
		return ""
	}
	return f3(*v)
}

var interruptionHeader = []string{"scenario", "call", "ok", "cause", "at_s", "length_ms", "concealed_ms", "recovery_rtts",
	"lokicall_recovery_rtts", "lokicall_gap_ms", "jitter_buffer_after_5s_ms", "calm_jitter_buffer_ms"}

// interruptionRows is interruptions.csv: one row per interruption of the
// dynamics scenarios.
func interruptionRows(rep *Report) [][]string {
	rows := [][]string{interruptionHeader}
	for _, sc := range rep.Scenarios {
		for _, c := range sc.Calls {
			if c.Dynamics == nil {
				continue
			}
			for _, in := range c.Dynamics.Interruptions {
				rows = append(rows, []string{sc.Name, strconv.Itoa(c.Index), strconv.FormatBool(c.OK), in.Cause, f3(in.AtS), f3(in.LengthMS),
					f3(in.ConcealedMS), optCSV(in.RecoveryRTTs), optCSV(in.LokicallRecoveryRTTs), f3(in.LokicallGapMS),
					optCSV(in.JitterBufferAfterMS), f3(in.CalmJitterBufferMS)})
			}
		}
	}
	return rows
}

// writeDynamics writes the dynamics scenarios' section of summary.md: per
// scenario what it did, its call's outcome and its interruption table.
func writeDynamics(b *strings.Builder, rep *Report) {
	first := true
	for _, sc := range rep.Scenarios {
		for _, c := range sc.Calls {
			d := c.Dynamics
			if d == nil {
				continue
			}
			if first {
				b.WriteString("\n## Lokinet's dynamics: interruptions\n\n")
				b.WriteString("One call of a 1 kHz tone per scenario, alice → bob. An interruption is a stretch of at least 60 ms where the " +
					"callee's recording lost the tone (gaps less than 1 s apart are one), placed on the call's clock by lokicall's playout " +
					"stamps. Concealed: the callee's concealed frames from just before it to 1 s after it. Recovery: from the end of its " +
					"cause (the cut, the stall, the restart's down time) to the audio's return, in the call's calm path RTTs (caller's RTCP); " +
					"lokicall's own figure (from the first packet after the silence) where it reported the interruption (audio missing " +
					"for over 1 s). Jitter buffer: the callee's, 5 s after the interruption, beside the call's calm-period median.\n")
				first = false
			}
			fmt.Fprintf(b, "\n### %s\n\n%s. Call of %.0f s: ok %v, caller ended %q, callee ended %q", sc.Name, d.What, c.Duration, c.OK, c.Caller.Reason, c.Callee.Reason)
			if c.Error != "" {
				fmt.Fprintf(b, " (%s)", c.Error)
			}
			fmt.Fprintf(b, "; setup %.2f s (%.1f path RTTs). Calm: path RTT p50 %.1f ms (min %.1f, p95 %.1f, max %.1f, %d samples), jitter buffer p50 %.1f ms. "+
				"lokicall counted %d interruption(s), %.0f ms in all.\n",
				c.SetupS, c.SetupRTTs, d.CalmRTTMS.P50, d.CalmRTTMS.Min, d.CalmRTTMS.P95, d.CalmRTTMS.Max, d.CalmRTTMS.N, d.CalmJitterBufferMS,
				d.LokicallInterruptions, d.LokicallInterruptedMS)
			if len(d.Actions) > 0 {
				var acts []string
				for _, a := range d.Actions {
					s := fmt.Sprintf("%s at %.1f s", a.String(), a.AtS)
					if a.Error != "" {
						s += " (refused: " + a.Error + ")"
					}
					acts = append(acts, s)
				}
				fmt.Fprintf(b, "\nActions: %s.\n", strings.Join(acts, "; "))
			}
			if len(d.Swaps) > 0 {
				var sw []string
				for _, s := range d.Swaps {
					sw = append(sw, fmt.Sprintf("%s %.1f s (%.0f ms)", s.Node, s.AtS, s.StallMS))
				}
				fmt.Fprintf(b, "\nSession replacements the nodes logged: %s.\n", strings.Join(sw, ", "))
			}
			if len(d.TraceSpikes) > 0 {
				var sp []string
				for _, x := range d.TraceSpikes {
					sp = append(sp, fmt.Sprintf("%.1f s (peak %.0f ms RTT, first stall %.0f ms, episode %.0f ms)", x.AtS, x.PeakRTTMS, x.FirstMS, x.LengthMS))
				}
				fmt.Fprintf(b, "\nSpikes of the replayed trace on the caller's egress (RTT over its median + 150 ms): %s.\n", strings.Join(sp, ", "))
			}
			if len(d.Interruptions) == 0 {
				b.WriteString("\nNo interruption in the callee's recording.\n")
				continue
			}
			b.WriteString("\n| cause | at s | length ms | concealed ms | recovery (path RTTs) | lokicall: gap ms, recovery RTTs | jitter buffer 5 s after ms | calm median ms |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|\n")
			for _, in := range d.Interruptions {
				lk := "–"
				if in.LokicallGapMS > 0 {
					lk = fmt.Sprintf("%.0f, %s", in.LokicallGapMS, optF("%.1f", in.LokicallRecoveryRTTs))
				}
				cause := in.Cause
				if cause == "" {
					cause = "–"
				}
				fmt.Fprintf(b, "| %s | %.1f | %.0f | %.0f | %s | %s | %s | %.1f |\n", cause, in.AtS, in.LengthMS, in.ConcealedMS,
					optF("%.1f", in.RecoveryRTTs), lk, optF("%.1f", in.JitterBufferAfterMS), in.CalmJitterBufferMS)
			}
		}
	}
}
