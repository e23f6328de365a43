package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/lokicall/lokicall/call"
)

// eventWriter prints call events: one JSON object per line with --json,
// otherwise short human-readable lines. It is safe for concurrent use.
type eventWriter struct {
	mu   sync.Mutex
	out  io.Writer
	json bool
}

func newEventWriter(g *globalOptions) *eventWriter {
	if g.term != nil {
		return &eventWriter{out: g.term, json: g.json}
	}
	return &eventWriter{out: g.stdout, json: g.json}
}

// event is the call.Emitter for commands.
func (w *eventWriter) event(ev call.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.json {
		w.writeJSON(ev)
		return
	}
	ts := ev.Time.Format("15:04:05.000")
	switch ev.Kind {
	case call.EventStats:
		w.printStats(ev.Stats)
	case call.EventCaller:
		fmt.Fprintf(w.out, "%s  incoming call from %s\n", ts, ev.Peer)
	case call.EventListen:
		fmt.Fprintf(w.out, "%s  listening as %s on %s\n", ts, ev.Address, ev.Message)
	case call.EventState:
		line := fmt.Sprintf("%s  %-10s %s", ts, ev.State, ev.Peer)
		if ev.Reason != "" {
			line += "  (" + ev.Reason + ")"
		}
		fmt.Fprintln(w.out, line)
	case call.EventInterruption:
		if in := ev.Interruption; in != nil && in.Phase == call.InterruptionStarted {
			fmt.Fprintf(w.out, "%s  %s\n", ts, interruptedLine(ev.Peer, msDuration(in.SilentMS), false))
		} else if in != nil {
			fmt.Fprintf(w.out, "%s  audio from %s is back after a gap of %s\n", ts, ev.Peer, seconds(msDuration(in.GapMS)))
		}
	default:
		fmt.Fprintf(w.out, "%s  %s %s\n", ts, ev.Kind, ev.Message)
	}
}

// result prints a plain value: as JSON with --json, else through human.
func (w *eventWriter) result(v any, human func(io.Writer)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.json {
		w.writeJSON(v)
		return
	}
	human(w.out)
}

// error reports a command's failure as a JSON event.
func (w *eventWriter) error(err error, code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeJSON(struct {
		Time    time.Time `json:"time"`
		Kind    string    `json:"event"`
		Message string    `json:"message"`
		Code    int       `json:"exit_code"`
	}{time.Now(), "error", err.Error(), code})
}

func (w *eventWriter) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"event":"error","message":%q}`, err.Error()))
	}
	b = append(b, '\n')
	_, _ = w.out.Write(b)
}

func (w *eventWriter) printStats(s *call.Stats) { w.printStatsTo(w.out, s) }

func (w *eventWriter) printStatsTo(out io.Writer, s *call.Stats) {
	if s == nil {
		return
	}
	p := func(label, format string, args ...any) {
		fmt.Fprintf(out, "  %-13s "+format+"\n", append([]any{label}, args...)...)
	}
	fmt.Fprintf(out, "call statistics (%s mode, peer %s)\n", s.Mode, s.Peer)
	if s.SetupRTTs > 0 {
		p("setup", "%.0f ms to first audio (%.1f path round trips of %.0f ms, the call's median); media path up after %.0f ms",
			s.SetupMS, s.SetupRTTs, s.PathRTTMS, s.ConnectMS)
	} else {
		p("setup", "%.0f ms to first audio; media path up after %.0f ms", s.SetupMS, s.ConnectMS)
	}
	p("round trip", "%.1f ms (RTCP), %.1f ms (ICE)", s.RTTMS, s.ICERTTMS)
	p("jitter", "%.1f ms", s.JitterMS)
	p("packets", "%d sent, %d received, %d lost (%.1f%%)", s.PacketsSent, s.PacketsReceived, s.PacketsLost, s.LossPercent)
	p("frames", "%d played, %d concealed, %d recovered by FEC", s.FramesPlayed, s.FramesConcealed, s.FramesRecovered)
	p("jitter buffer", "%.0f ms", s.JitterBufferMS)
	p("candidates", "%s -> %s", s.LocalCandidate, s.RemoteCandidate)
	p("quality", "MOS %.2f (E-model, one-way delay %.1f ms)", s.MOS, s.OneWayMS)
	p("audio", "%.1f s", s.MediaMS/1000)
	p("interrupted", "%d times, %.1f s in all", s.Interruptions, s.InterruptedMS/1000)
}
