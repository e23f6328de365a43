package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/history"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/signalling"
)

func newListenCommand(g *globalOptions) *cobra.Command {
	var (
		o      callOptions
		port   uint16
		accept string
		calls  int
	)
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Wait for calls on this node's Lokinet address",
		Long: `Wait for calls on this node's Lokinet address. Each incoming call shows the
caller's .loki address (known from Lokinet, not from what the caller claims) and
contact name.

--accept decides who gets through:
  ask       ask "answer? [y/N]" on the terminal while the call rings
  contacts  only contacts ring (asked on a terminal, else accepted); everybody
            else is rejected with the reason "not-a-contact"
  auto      accept every call
  never     decline every call
The default is ask when stdin is a terminal and never otherwise, so that a
listener without a terminal never answers strangers with an open microphone:
a headless answering machine needs --accept auto (or contacts).

Probes (lokicall ping) are answered, without ringing, for the callers --accept
would let ring; others get the reject their call would get.

If the Lokinet daemon stops, the listener keeps running: it says so (JSON
event "progress", reason "lokinet-down"), waits for Lokinet however long, and
listens again on the node's Lokinet address, as it is then, when it is back.

Missed and rejected calls are printed (JSON events "missed" and "rejected" with
--json) and logged at info level. Keys during a call: m mutes and unmutes, q
hangs up (and keeps listening); q while no call rings quits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if calls < 0 {
				return usageError{fmt.Errorf("--calls %d: want 0 (no limit) or more", calls)}
			}
			return runListen(cmd.Context(), g, &o, port, accept, calls)
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().Uint16Var(&port, "port", call.DefaultPort, "signalling TCP port on the Lokinet address")
	cmd.Flags().StringVar(&accept, "accept", "", "incoming calls: ask, contacts, auto or never (default ask on a terminal, else never)")
	cmd.Flags().IntVar(&calls, "calls", 0, "exit after this many calls (0: serve until interrupted)")
	return cmd
}

// listener is the terminal side of `lokicall listen`.
type listener struct {
	g     *globalOptions
	w     *eventWriter
	muted atomic.Bool
	quit  context.CancelFunc // ends listening

	mu      sync.Mutex
	screen  *callScreen // the call in progress, if any
	hang    func()      // hangs up the call in progress
	ended   int         // calls ended so far
	lastErr error       // the last call's result

	// bell is how the prompt sounds the terminal bell (see bellFor).
	bell bellMode
}

// bellMode says how the ringing prompt uses the terminal bell.
type bellMode struct {
	ring  bool          // ring it at all
	every time.Duration // ring again at this interval (0: once)
}

// bellFor chooses the bell: none when the ring tone plays on the output
// device, at every ring of the tone plan when the output is not a device,
// once when tones are off.
func bellFor(cfg call.Config) bellMode {
	switch {
	case cfg.Tones == nil:
		return bellMode{ring: true}
	case cfg.Out.Kind == media.KindDevice:
		return bellMode{}
	}
	return bellMode{ring: true, every: cfg.Tones.Ring.Period()}
}

func runListen(ctx context.Context, g *globalOptions, o *callOptions, port uint16, accept string, calls int) error {
	mode := call.AcceptMode(accept)
	if accept == "" {
		mode = call.AcceptNever
		if g.term.interactive() {
			mode = call.AcceptAsk
		}
	}
	if _, err := call.ParseAcceptMode(string(mode)); err != nil {
		return usageError{fmt.Errorf("--accept: %w", err)}
	}
	if mode == call.AcceptAsk && !g.term.interactive() {
		return usageError{fmt.Errorf("--accept ask needs a terminal on stdin; use contacts, auto or never")}
	}
	ctx, quit := context.WithCancel(ctx)
	defer quit()
	l := &listener{g: g, w: newEventWriter(g), quit: quit}
	pc := call.PolicyConfig{Mode: mode, IsContact: g.isContact, Logger: g.logger}
	if g.term.interactive() {
		pc.Prompt = l.prompt
	}
	policy, err := call.NewPolicy(pc)
	if err != nil {
		return usageError{err}
	}
	cfg, err := o.config(ctx, g, l.event)
	if err != nil {
		return err
	}
	defer closeStamps(g, o)
	cfg.Muted = l.muted.Load
	l.bell = bellFor(cfg)
	wireLive(&cfg, g, func() *callScreen {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.screen
	})
	if accept == "" && !g.json {
		fmt.Fprintf(g.term, "incoming calls: --accept %s\n", mode)
	}

	stopKeys, err := g.term.startKeys()
	if err != nil {
		g.logger.Warn("no keyboard control", "err", err)
	}
	defer stopKeys()
	defer g.term.handleKeys(l.key)()

	lc := call.ListenConfig{
		Config:    cfg,
		Port:      port,
		Accept:    policy,
		Probe:     call.ProbePolicy(pc),
		MaxCalls:  calls,
		OnCallEnd: l.callEnded,
		OnIncoming: func(_ string, _ lokinet.Address, hangUp func()) {
			l.mu.Lock()
			l.hang = hangUp
			l.mu.Unlock()
		},
	}
	lc.Config.Events = l.event
	return call.Listen(ctx, lc)
}

// event is the listener's Emitter: it prints the event and keeps the
// current call's screen up to date.
func (l *listener) event(ev call.Event) {
	if ev.Kind == call.EventCaller {
		s := newCallScreen(l.g, &l.muted)
		s.callee = true
		s.began = ev.Time
		s.hangUp = func() {
			l.mu.Lock()
			h := l.hang
			l.mu.Unlock()
			if h != nil {
				h()
			}
		}
		ctx, stop := context.WithCancel(context.Background())
		go s.run(ctx)
		s.stopRun = stop
		l.mu.Lock()
		l.screen = s
		l.mu.Unlock()
		if l.g.json {
			l.w.event(ev)
		} else {
			fmt.Fprintf(l.g.term, "%s  incoming call from %s\n", ev.Time.Format("15:04:05.000"), l.g.longName(ev.Peer))
		}
		s.event(ev)
		return
	}
	if ev.Kind == call.EventMissed && ev.Reason == signalling.ReasonBusy {
		l.g.recordCall(historyEntry(history.Incoming, ev.Peer, ev.Time, nil, history.Busy, ev.Reason))
	}
	l.mu.Lock()
	s := l.screen
	l.mu.Unlock()
	if s != nil && !listenerProgress(ev) {
		s.event(ev)
	}
	l.w.event(ev)
}

// listenerProgress reports the listener's own news of Lokinet (away, still
// away, back and listening again): printed, but not the call's, which
// follows the daemon on its own and says so with its call ID.
func listenerProgress(ev call.Event) bool {
	if ev.Kind != call.EventProgress || ev.CallID != "" {
		return false
	}
	switch ev.Reason {
	case call.ProgressLokinetDown, call.ProgressLokinetWaiting, call.ProgressLokinetBack:
		return true
	}
	return false
}

// callEnded is OnCallEnd: it reports the call and logs it when missed or
// rejected.
func (l *listener) callEnded(stats *call.Stats, err error) {
	l.mu.Lock()
	s := l.screen
	l.screen = nil
	l.ended++
	l.lastErr = err
	l.mu.Unlock()
	if s == nil {
		return
	}
	s.stopRun()
	l.g.term.clearStatus()
	s.mu.Lock()
	end := callEnd{peer: s.peer, err: err, reason: s.lastEnd.Reason, userHung: s.userHung, by: s.lastEnd.By}
	peerAddr := s.lastEnd.Peer
	began := s.began
	if !s.ringStart.IsZero() {
		last := s.ended
		if !s.active.IsZero() {
			last = s.active
		}
		end.rang = last.Sub(s.ringStart)
	}
	s.mu.Unlock()
	if stats != nil {
		end.talked = msDuration(stats.MediaMS)
	}
	end.peer = l.g.longName(peerAddr)
	l.g.recordCall(historyEntry(history.Incoming, peerAddr, began, stats, incomingOutcome(err, end.reason), end.reason))
	msg, outcome := calleeSentence(end)
	var kind call.EventKind
	switch outcome {
	case call.OutcomeMissed:
		kind = call.EventMissed
	case call.OutcomeRejected:
		kind = call.EventRejected
	}
	if kind != "" {
		l.g.logger.Info("call log: "+string(outcome)+" call", "caller", peerAddr, "reason", end.reason, "rang", end.rang.Round(time.Millisecond))
	}
	switch {
	case l.g.json && kind != "":
		l.w.event(call.Event{Time: time.Now(), Kind: kind, Peer: peerAddr, Reason: end.reason, Message: msg})
	case !l.g.json:
		fmt.Fprintln(l.g.term, msg)
	}
}

// key handles keys while no prompt is up: m and q go to the call in
// progress; q with no call quits.
func (l *listener) key(b byte) {
	l.mu.Lock()
	s := l.screen
	l.mu.Unlock()
	if s != nil {
		s.key(b)
		return
	}
	if b == 'q' || b == 'Q' {
		l.quit()
	}
}

// prompt asks the person at the terminal whether to answer: it is the
// call.Prompt of ask and contacts. y answers; n, q, Enter and Esc decline;
// the line counts down the ring timeout.
func (l *listener) prompt(ctx context.Context, caller lokinet.Address) (bool, error) {
	answer := make(chan bool, 1)
	defer l.g.term.handleKeys(func(b byte) {
		var a, ok bool
		switch b {
		case 'y', 'Y':
			a, ok = true, true
		case 'n', 'N', 'q', 'Q', '\r', '\n', 0x1b:
			a, ok = false, true
		}
		if ok {
			select {
			case answer <- a:
			default:
			}
		}
	})()
	who := l.g.longName(caller.String())
	deadline, hasDeadline := ctx.Deadline()
	show := func() {
		line := "Incoming call from " + who + " — answer? [y/N]"
		if hasDeadline {
			line += fmt.Sprintf(" %ds", max(0, int(time.Until(deadline).Round(time.Second)/time.Second)))
		}
		if l.g.term.outTTY {
			l.g.term.setStatus(line)
		} else {
			fmt.Fprintln(l.g.term, line)
		}
	}
	if l.bell.ring {
		l.g.term.ring()
	}
	var bell <-chan time.Time
	if l.bell.ring && l.bell.every > 0 {
		t := time.NewTicker(l.bell.every)
		defer t.Stop()
		bell = t.C
	}
	show()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case a := <-answer:
			l.g.term.clearStatus()
			if !l.g.json {
				if a {
					fmt.Fprintln(l.g.term, "answered")
				} else {
					fmt.Fprintln(l.g.term, "declined")
				}
			}
			return a, nil
		case <-ctx.Done():
			l.g.term.clearStatus()
			return false, ctx.Err()
		case <-tick.C:
			if l.g.term.outTTY {
				show()
			}
		case <-bell:
			l.g.term.ring()
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
