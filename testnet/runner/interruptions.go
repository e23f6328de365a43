package runner

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/lokicall/lokicall/measure"
)

// Interruption is one stretch of a dynamics call where the callee's audio
// (a steady tone) went missing from its recording.
type Interruption struct {
	// Cause is the action or session replacement it follows ("" if none
	// matched: a trace's spike, or the network's own).
	Cause string `json:"cause"`
	// AtS is when the gap began, in seconds after the caller went active;
	// LengthMS the audio it spans in the recording (gaps less than a
	// second apart are one).
	AtS      float64 `json:"at_s"`
	LengthMS float64 `json:"length_ms"`
	// ConcealedMS is the audio the callee concealed from just before the
	// gap to a second after it (its frames_concealed counter × 20 ms).
	ConcealedMS float64 `json:"concealed_ms"`
	// RecoveryRTTs is the time from the end of the cause (the cut, the
	// stall, the restart's down time; none for a trace's spike, which
	// delays packets rather than holding them) to the end of the gap, in
	// the call's path RTTs; LokicallRecoveryRTTs what the callee's lokicall reported
	// in its interruption event (from the first packet of any kind after
	// the silence), when it reported one. LokicallGapMS is that event's gap.
	RecoveryRTTs         *float64 `json:"recovery_rtts,omitempty"`
	LokicallRecoveryRTTs *float64 `json:"lokicall_recovery_rtts,omitempty"`
	LokicallGapMS        float64  `json:"lokicall_gap_ms,omitempty"`
	// JitterBufferAfterMS is the callee's jitter-buffer delay 5 s after the
	// gap's end (its nearest live event); CalmJitterBufferMS the median
	// over the call's calm periods (no interruption or action within 1 s
	// before and 6 s after).
	JitterBufferAfterMS *float64 `json:"jitter_buffer_after_5s_ms,omitempty"`
	CalmJitterBufferMS  float64  `json:"calm_jitter_buffer_ms"`
}

// Swap is a session replacement a node logged during the call.
type Swap struct {
	Node    string  `json:"node"`
	AtS     float64 `json:"at_s"`
	StallMS float64 `json:"stall_ms"`

	at time.Time
}

// DynamicsResult is what a dynamics call measured beyond CallResult's
// figures.
type DynamicsResult struct {
	What    string   `json:"what"`
	Actions []Action `json:"actions,omitempty"`
	// Swaps are the session replacements both nodes logged during the call.
	Swaps []Swap `json:"swaps,omitempty"`
	// TraceSpikes are the spikes of the trace the caller's node replayed
	// during the call.
	TraceSpikes   []Spike        `json:"trace_spikes,omitempty"`
	Interruptions []Interruption `json:"interruptions"`
	// CalmJitterBufferMS is the callee's median jitter-buffer delay over
	// the calm periods; CalmRTTMS the caller's live RTCP round trips there.
	CalmJitterBufferMS float64 `json:"calm_jitter_buffer_ms"`
	CalmRTTMS          Summary `json:"calm_rtt_ms"`
	// LokicallInterruptions and LokicallInterruptedMS are the callee's
	// final counters (audio missing for over a second).
	LokicallInterruptions int     `json:"lokicall_interruptions"`
	LokicallInterruptedMS float64 `json:"lokicall_interrupted_ms"`
}

const (
	gapMinLength = 60 * time.Millisecond // three frames
	gapMerge     = time.Second
	jbAfter      = 5 * time.Second
	calmBefore   = time.Second
	calmAfter    = 6 * time.Second
)

// window is a stretch of wall-clock time.
type window struct{ from, to time.Time }

func (w window) contains(t time.Time) bool { return !t.Before(w.from) && !t.After(w.to) }

// gap is a stretch of the callee's recording without the tone: its wall
// clock window (through the playout stamps) and the audio it spans in the
// recording (the window can be shorter: frames played late are written in
// a burst).
type gap struct {
	window
	audio time.Duration
}

// recordingGaps returns the gaps of the callee's recording of a tone,
// those less than gapMerge apart merged.
func recordingGaps(wav, stamps string) ([]gap, error) {
	rec, err := readWAV(wav)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(stamps)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := measure.ReadStamps(f)
	if err != nil {
		return nil, err
	}
	if len(st) == 0 {
		return nil, nil
	}
	wall := func(d time.Duration) time.Time {
		sample := int64(d.Seconds() * SampleRate)
		i := sort.Search(len(st), func(i int) bool { return st[i].Sample > sample }) - 1
		i = max(0, i)
		return st[i].Time.Add(time.Duration(sample-st[i].Sample) * time.Second / SampleRate)
	}
	var out []gap
	var first time.Duration // where the last merged gap begins in the recording
	for _, g := range FindGaps(rec, 0.1, gapMinLength) {
		w := window{wall(g.At), wall(g.At + g.Length)}
		if n := len(out); n > 0 && w.from.Sub(out[n-1].to) < gapMerge {
			out[n-1].to = w.to
			out[n-1].audio = g.At + g.Length - first
			continue
		}
		first = g.At
		out = append(out, gap{w, g.Length})
	}
	return out, nil
}

var swapLine = regexp.MustCompile(`time=(\S+) .*msg="session replaced" .*stall_ms=(\d+)`)

// swaps returns the session replacements a node logged within w.
func (r *Runner) swaps(ctx context.Context, node string, w window) []Swap {
	out, err := r.Testnet.Logs(ctx, node)
	if err != nil {
		return nil
	}
	var s []Swap
	for _, m := range swapLine.FindAllStringSubmatch(out, -1) {
		t, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || !w.contains(t) {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		s = append(s, Swap{Node: node, StallMS: v, at: t})
	}
	return s
}

// analyseDynamics measures a dynamics call's interruptions from the
// callee's recording, the sides' events, the actions taken and the swaps
// the nodes logged.
func (r *Runner) analyseDynamics(ctx context.Context, res *CallResult, f callFiles, d Dynamic, actions []Action, caller, callee string) *DynamicsResult {
	dr := &DynamicsResult{What: d.What, Actions: actions}
	t0 := res.T0
	if t0.IsZero() {
		return dr
	}
	end := t0.Add(d.Duration)
	if e, ok := res.Caller.States["ended"]; ok && e.Before(end) {
		end = e
	}
	call := window{t0, end}
	for i := range dr.Actions {
		if a := &dr.Actions[i]; !a.taken.IsZero() {
			a.AtS = a.taken.Sub(t0).Seconds()
		}
	}
	for _, node := range []string{caller, callee} {
		for _, s := range r.swaps(ctx, node, window{t0.Add(-5 * time.Second), end}) {
			s.AtS = s.at.Sub(t0).Seconds()
			dr.Swaps = append(dr.Swaps, s)
		}
	}
	if s := res.Callee.Stats; s != nil {
		dr.LokicallInterruptions, dr.LokicallInterruptedMS = s.Interruptions, s.InterruptedMS
	}
	gaps, err := recordingGaps(f.host("callee.wav"), f.host("playout.csv"))
	if err != nil {
		r.log().Warn("interruptions: the callee's recording", "err", err)
	}
	// Gaps inside the call, away from its start and end (the first and
	// last packets).
	inner := window{t0.Add(500 * time.Millisecond), end.Add(-500 * time.Millisecond)}
	var kept []gap
	for _, g := range gaps {
		if inner.contains(g.from) && inner.contains(g.to) {
			kept = append(kept, g)
		}
	}
	// Calm: live events of the callee with audio, away from every gap and
	// action.
	var busy []window
	for _, g := range kept {
		busy = append(busy, window{g.from.Add(-calmBefore), g.to.Add(calmAfter)})
	}
	for _, a := range dr.Actions {
		if !a.taken.IsZero() {
			busy = append(busy, window{a.taken.Add(-calmBefore), a.taken.Add(a.Length + calmAfter)})
		}
	}
	calm := func(t time.Time) bool {
		if t.Before(t0.Add(3*time.Second)) || !call.contains(t) {
			return false
		}
		for _, b := range busy {
			if b.contains(t) {
				return false
			}
		}
		return true
	}
	var jb, rtt []float64
	for _, l := range res.Callee.Live {
		if l.FramesPlayed > 0 && calm(l.Time) {
			jb = append(jb, l.JitterBufferMS)
		}
	}
	for _, l := range res.Caller.Live {
		if l.RTTMS > 0 && calm(l.Time) {
			rtt = append(rtt, l.RTTMS)
		}
	}
	dr.CalmJitterBufferMS, dr.CalmRTTMS = Summarize(jb).P50, Summarize(rtt)
	pathRTT := dr.CalmRTTMS.P50
	if pathRTT == 0 {
		pathRTT = res.PathRTTMS
	}
	causes := swapCauses(dr.Swaps, caller)
	if d.Params.Trace != "" {
		dr.TraceSpikes = r.traceSpikes(ctx, d.Params.Trace, caller, call)
		for _, sp := range dr.TraceSpikes {
			causes = append(causes, cause{name: fmt.Sprintf("trace spike (%.0f ms RTT)", sp.PeakRTTMS), at: sp.at, length: msDuration(sp.FirstMS), delay: true})
		}
		for i := range dr.TraceSpikes {
			dr.TraceSpikes[i].AtS = dr.TraceSpikes[i].at.Sub(t0).Seconds()
		}
	}
	dr.Interruptions = interruptionsOf(res, kept, dr.Actions, causes, pathRTT, dr.CalmJitterBufferMS)
	return dr
}

// cause is something that delays the caller's audio for a while without an
// action: a session replacement on the caller's node, a spike of the trace
// it replays.
type cause struct {
	name   string
	at     time.Time
	length time.Duration
	// delay: the cause delays packets rather than holding them (a trace's
	// spike), so it has no end for the audio to come back after.
	delay bool
}

// swapCauses are the session replacements of node as causes.
func swapCauses(swaps []Swap, node string) []cause {
	var out []cause
	for _, s := range swaps {
		if s.Node == node {
			out = append(out, cause{name: "swap (" + strconv.FormatFloat(s.StallMS, 'f', 0, 64) + " ms stall)", at: s.at, length: msDuration(s.StallMS)})
		}
	}
	return out
}

// interruptionsOf measures each gap of the callee's recording: its cause
// (an action, else one of causes), concealment, recovery and the jitter
// buffer after it.
func interruptionsOf(res *CallResult, gaps []gap, actions []Action, causes []cause, pathRTT, calmJB float64) []Interruption {
	t0 := res.T0
	var out []Interruption
	ended := interruptionEnds(res.Callee.Events)
	for _, g := range gaps {
		in := Interruption{AtS: g.from.Sub(t0).Seconds(), LengthMS: ms(g.audio), CalmJitterBufferMS: calmJB}
		var back time.Time // when the cause ended
		for _, a := range actions {
			if !a.taken.IsZero() && (window{a.taken.Add(-500 * time.Millisecond), a.taken.Add(a.Length + 5*time.Second)}).contains(g.from) {
				in.Cause, back = a.String(), a.taken.Add(a.Length)
				break
			}
		}
		if in.Cause == "" {
			for _, c := range causes {
				if (window{c.at.Add(-300 * time.Millisecond), c.at.Add(c.length + 300*time.Millisecond)}).contains(g.from) {
					in.Cause = c.name
					if !c.delay {
						back = c.at.Add(c.length)
					}
					break
				}
			}
		}
		if !back.IsZero() && pathRTT > 0 {
			v := ms(g.to.Sub(back)) / pathRTT
			in.RecoveryRTTs = &v
		}
		for _, e := range ended {
			if e.at.Sub(g.to).Abs() < 1500*time.Millisecond {
				in.LokicallGapMS, in.LokicallRecoveryRTTs = e.gapMS, e.rtts
				break
			}
		}
		in.ConcealedMS = concealedMS(res.Callee.Live, g.window)
		if v, ok := liveNear(res.Callee.Live, g.to.Add(jbAfter), 1500*time.Millisecond); ok {
			in.JitterBufferAfterMS = &v
		}
		out = append(out, in)
	}
	return out
}

// concealedMS is the audio concealed from the last live event before g to
// the first a second after it.
func concealedMS(live []LiveSample, g window) float64 {
	var before, after *LiveSample
	for i := range live {
		l := &live[i]
		if !l.Time.After(g.from) {
			before = l
		}
		if after == nil && !l.Time.Before(g.to.Add(time.Second)) {
			after = l
		}
	}
	if after == nil && len(live) > 0 {
		after = &live[len(live)-1]
	}
	if before == nil || after == nil || after.FramesConcealed < before.FramesConcealed {
		return 0
	}
	return float64(after.FramesConcealed-before.FramesConcealed) * 20
}

// liveNear returns the jitter-buffer delay of the live event nearest t,
// if one is within tol.
func liveNear(live []LiveSample, t time.Time, tol time.Duration) (float64, bool) {
	best, found := tol, false
	var v float64
	for _, l := range live {
		if d := l.Time.Sub(t).Abs(); d <= best && l.FramesPlayed > 0 {
			best, v, found = d, l.JitterBufferMS, true
		}
	}
	return v, found
}

// interruptionEnd is an "ended" interruption event of lokicall.
type interruptionEnd struct {
	at    time.Time
	gapMS float64
	rtts  *float64
}

func interruptionEnds(evs []InterruptionEvent) []interruptionEnd {
	var out []interruptionEnd
	for _, e := range evs {
		if e.Phase == "ended" {
			out = append(out, interruptionEnd{at: e.Time, gapMS: e.GapMS, rtts: e.RecoveryRTTs})
		}
	}
	return out
}
