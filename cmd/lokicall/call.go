package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/history"
	"github.com/lokicall/lokicall/lokinet"
)

func newCallCommand(g *globalOptions) *cobra.Command {
	var o callOptions
	cmd := &cobra.Command{
		Use:   "call NAME|ADDRESS[:PORT]",
		Short: "Call a contact or a .loki address (port " + itoa(call.DefaultPort) + " unless given)",
		Long: `Call a contact (lokicall contacts list), a .loki address or an ONS name.

During the call a status line shows the state, duration, peer, round trip,
jitter, loss, jitter-buffer delay, MOS estimate and microphone level. Keys (when
stdin is a terminal): m mutes and unmutes, q hangs up.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCall(cmd.Context(), g, &o, args[0])
		},
	}
	o.register(cmd.Flags())
	return cmd
}

// runCall places one call and reports how it ended.
func runCall(ctx context.Context, g *globalOptions, o *callOptions, arg string) error {
	target, err := g.resolveTarget(arg)
	if err != nil {
		return usageError{err}
	}
	ctx, hangUp := context.WithCancel(ctx)
	defer hangUp()

	var muted atomic.Bool
	screen := newCallScreen(g, &muted)
	screen.hangUp = hangUp
	w := newEventWriter(g)
	start := time.Now()
	var peerAddr atomic.Value // the peer's .loki address, once known
	if !target.Address.IsZero() {
		peerAddr.Store(target.Address.String())
	}
	cfg, err := o.config(ctx, g, func(ev call.Event) {
		if _, err := lokinet.ParseAddress(ev.Peer); err == nil {
			peerAddr.Store(ev.Peer)
		}
		screen.event(ev)
		w.event(ev)
	})
	if err != nil {
		return err
	}
	defer closeStamps(g, o)
	cfg.Muted = muted.Load
	wireLive(&cfg, g, func() *callScreen { return screen })

	stopKeys, err := g.term.startKeys()
	if err != nil {
		g.logger.Warn("no keyboard control", "err", err)
	}
	defer stopKeys()
	defer g.term.handleKeys(screen.key)()
	sctx, stopScreen := context.WithCancel(ctx)
	go screen.run(sctx)

	stats, err := call.Dial(ctx, cfg, target)
	stopScreen()
	g.term.clearStatus()
	stopKeys()

	screen.mu.Lock()
	end := callEnd{peer: screen.peer, err: err, reason: screen.lastEnd.Reason, userHung: screen.userHung, by: screen.lastEnd.By}
	if end.peer == "" {
		end.peer = g.displayName(target.Host)
	}
	if !screen.ringStart.IsZero() {
		last := screen.ended
		if !screen.active.IsZero() {
			last = screen.active
		}
		end.rang = last.Sub(screen.ringStart)
	}
	screen.mu.Unlock()
	if stats != nil {
		end.talked = msDuration(stats.MediaMS)
	}
	if p, ok := peerAddr.Load().(string); ok {
		g.recordCall(historyEntry(history.Outgoing, p, start, stats, outgoingOutcome(err, end.reason, end.talked), end.reason))
	}
	msg, err := callerSentence(end)
	if err == nil && !g.json {
		fmt.Fprintln(g.term, msg)
	}
	return err
}
