package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/history"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

func newHistoryCommand(g *globalOptions) *cobra.Command {
	var (
		missed bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past calls, newest first",
		Long: `List past calls, made and received, newest first: when, the peer, how long
audio flowed, how the call ended and its quality (MOS). The history lives in
$XDG_STATE_HOME/lokicall/history.jsonl (~/.local/state/lokicall/ by default)
and holds no audio and no IP addresses; --history=false, LOKICALL_HISTORY=false
or "enabled = false" under [history] in the config file stops recording.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageError{fmt.Errorf("--limit %d: want 0 (all) or more", limit)}
			}
			return runHistory(g, missed, limit)
		},
	}
	cmd.Flags().BoolVar(&missed, "missed", false, "only incoming calls nobody took (missed, or turned away while busy)")
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "show at most this many calls (0: all)")
	return cmd
}

// historyJSON is one --json line of `lokicall history`.
type historyJSON struct {
	Kind string `json:"event"`
	Name string `json:"name,omitempty"`
	history.Entry
}

func runHistory(g *globalOptions, missed bool, limit int) error {
	path, err := history.DefaultPath()
	if err != nil {
		return err
	}
	entries, err := history.Store{Path: path}.Load()
	if err != nil {
		if !errors.Is(err, history.ErrMalformed) {
			return err
		}
		g.logger.Warn("history: skipped lines that are not calls", "err", err)
	}
	var shown []history.Entry
	for i := len(entries) - 1; i >= 0 && (limit == 0 || len(shown) < limit); i-- {
		if !missed || entries[i].IsMissed() {
			shown = append(shown, entries[i])
		}
	}
	w := newEventWriter(g)
	if g.json {
		for _, e := range shown {
			name, _ := g.contactName(e.Peer)
			w.result(historyJSON{Kind: "call", Name: name, Entry: e}, nil)
		}
		return nil
	}
	w.result(nil, func(out io.Writer) {
		if len(shown) == 0 {
			fmt.Fprintf(out, "no calls in %s\n", path)
			return
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, e := range shown {
			q := ""
			if e.Quality != nil {
				q = fmt.Sprintf("MOS %.1f", e.Quality.MOS)
			}
			outcome := string(e.Outcome)
			if e.Reason != "" && e.Reason != string(e.Outcome) && e.Reason != signalling.ReasonCompleted {
				outcome += " (" + e.Reason + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Start.Local().Format("2006-01-02 15:04"), e.Direction,
				g.longName(e.Peer), outcome, clock(e.Duration()), q)
		}
		_ = tw.Flush()
	})
	return nil
}

// recordCall appends a call to the history unless recording is off. A
// history that cannot be written costs a warning, never the call.
func (g *globalOptions) recordCall(e history.Entry) {
	if !g.history {
		return
	}
	if _, err := lokinet.ParseAddress(e.Peer); err != nil {
		g.logger.Debug("history: a call without a known peer address is not recorded", "peer", e.Peer)
		return
	}
	path, err := history.DefaultPath()
	if err == nil {
		err = history.Store{Path: path}.Append(e)
	}
	if err != nil {
		g.logger.Warn("history: call not recorded", "err", err)
	}
}

// historyEntry describes a finished call for the history.
func historyEntry(dir history.Direction, peer string, start time.Time, stats *call.Stats, outcome history.Outcome, reason string) history.Entry {
	e := history.Entry{Direction: dir, Peer: peer, Start: start.UTC(), End: time.Now().UTC(), Outcome: outcome, Reason: reason}
	if e.End.Before(e.Start) {
		e.End = e.Start
	}
	if stats != nil && stats.MediaMS > 0 {
		e.DurationMS = min(int64(stats.MediaMS), e.End.Sub(e.Start).Milliseconds())
		e.Quality = &history.Quality{MOS: stats.MOS, RTTMS: stats.RTTMS, JitterMS: stats.JitterMS,
			LossPercent: stats.LossPercent, Interruptions: stats.Interruptions}
	}
	return e
}

// outgoingOutcome classifies how an outgoing call ended.
func outgoingOutcome(err error, reason string, talked time.Duration) history.Outcome {
	switch {
	case err == nil:
		return history.Completed
	case errors.Is(err, call.ErrBusy):
		return history.Busy
	case errors.Is(err, call.ErrRejected):
		return history.Rejected
	case errors.Is(err, call.ErrTimeout) && reason == signalling.ReasonTimeout:
		return history.NoAnswer
	case errors.Is(err, context.Canceled):
		if talked > 0 {
			return history.Completed
		}
		return history.Cancelled
	}
	return history.Failed
}

// incomingOutcome classifies how an incoming call ended.
func incomingOutcome(err error, reason string) history.Outcome {
	switch call.IncomingOutcome(err, reason) {
	case call.OutcomeMissed:
		return history.Missed
	case call.OutcomeRejected:
		return history.Rejected
	case call.OutcomeAnswered:
		if err == nil {
			return history.Completed
		}
	}
	return history.Failed
}
