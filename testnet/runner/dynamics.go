package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Action is something done to a node during a call through its control
// socket (`lokinet-emu ctl`, testnet/README.md).
type Action struct {
	Node string `json:"node"` // compose service
	// Ctl is the control request, e.g. ["cut", "8s"].
	Ctl []string `json:"ctl"`
	// At is when, after the caller went active; with BeforeDial the action
	// is taken as the caller dials instead (the callee already listening).
	At         time.Duration `json:"at"`
	BeforeDial bool          `json:"before_dial,omitempty"`
	// Length is how long the path is out or impaired by it (the cut, the
	// restart's down time, the loss window).
	Length time.Duration `json:"length"`
	// AtS is when it was taken, in seconds after the caller went active
	// (negative: before); Error why it was refused, if it was.
	AtS   float64 `json:"at_s"`
	Error string  `json:"error,omitempty"`

	taken time.Time
}

// String is the action as a table cell: "alice: cut 8s".
func (a Action) String() string { return a.Node + ": " + strings.Join(a.Ctl, " ") }

// Dynamic is a scenario of Lokinet's dynamics: one call of a steady tone
// with the node knobs of its parameters and its actions, measured by its
// interruptions.
type Dynamic struct {
	Name     string        `json:"name"`
	Params   Params        `json:"params"`
	Duration time.Duration `json:"duration"`
	Actions  []Action      `json:"actions,omitempty"`
	// What says in a sentence what the scenario does.
	What string `json:"what"`
}

// Trace files of the image (testnet/traces, copied to /traces).
const (
	TraceA = "/traces/lokinet-0.9.11-ping-50pps-a.csv"
	TraceB = "/traces/lokinet-0.9.11-ping-50pps-b.csv"
)

// DynamicNames are the dynamics scenarios in the order a measurement runs
// them.
var DynamicNames = []string{"stall", "trace", "outage", "daemon-restart", "handshake-loss"}

// DynamicScenario returns the dynamics scenario name on top of base.
func DynamicScenario(name string, base Params) (Dynamic, error) {
	d := Dynamic{Name: name, Params: base}
	switch name {
	case "stall":
		d.Params.SessionSwap = "force"
		d.Duration = 110 * time.Second
		d.What = "both nodes hold a session pair (SESSION_SWAP=force): each session is replaced every 50 s and stalls 240–550 ms, as Lokinet 0.9.11's half-open sessions"
	case "trace":
		d.Params.Trace = TraceA
		d.Duration = 110 * time.Second
		d.What = "both nodes replay the real daemon's measured trace (" + TraceA + ") on their egress, the relays adding no delay of their own"
	case "outage":
		d.Duration = 80 * time.Second
		d.Actions = []Action{
			{Node: "alice", Ctl: []string{"cut", "8s"}, At: 10 * time.Second, Length: 8 * time.Second},
			{Node: "alice", Ctl: []string{"cut", "40s"}, At: 28 * time.Second, Length: 40 * time.Second},
		}
		d.What = "the caller's path is cut for 8 s, then for 40 s"
	case "daemon-restart":
		d.Duration = 50 * time.Second
		d.Actions = []Action{
			{Node: "alice", Ctl: []string{"restart", "-down", "3s"}, At: 10 * time.Second, Length: 3 * time.Second},
			{Node: "bob", Ctl: []string{"restart", "-down", "3s"}, At: 30 * time.Second, Length: 3 * time.Second},
		}
		d.What = "the caller's Lokinet daemon restarts (down 3 s, mappings and paths forgotten), then the callee's"
	case "handshake-loss":
		d.Duration = 25 * time.Second
		d.Actions = []Action{
			{Node: "alice", Ctl: []string{"loss", "8s", "0.3"}, BeforeDial: true, Length: 8 * time.Second},
			{Node: "bob", Ctl: []string{"loss", "8s", "0.3"}, BeforeDial: true, Length: 8 * time.Second},
		}
		d.What = "30 % loss on each node's traffic (about half of the packets lost end to end) for the 8 s from the dial: call setup under heavy loss"
	default:
		return Dynamic{}, fmt.Errorf("runner: unknown scenario %q (%s)", name, strings.Join(DynamicNames, ", "))
	}
	return d, nil
}

// ParseDynamics parses a comma-separated list of dynamics scenarios ("all":
// every one, "" or "none": none).
func ParseDynamics(list string, base Params) ([]Dynamic, error) {
	var names []string
	switch list {
	case "", "none":
		return nil, nil
	case "all":
		names = DynamicNames
	default:
		names = strings.Split(list, ",")
	}
	var out []Dynamic
	for _, n := range names {
		if !slices.Contains(DynamicNames, n) {
			return nil, fmt.Errorf("runner: unknown scenario %q (%s)", n, strings.Join(DynamicNames, ", "))
		}
		d, err := DynamicScenario(n, base)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// act sends an action's control request to its node.
func (r *Runner) act(ctx context.Context, a *Action) {
	a.taken = time.Now()
	out, err := r.Testnet.Exec(ctx, a.Node, false, nil, nil, append([]string{"/lokinet-emu", "ctl"}, a.Ctl...)...)
	if err != nil {
		a.Error = err.Error()
		r.log().Warn("control request refused", "action", a.String(), "err", err)
		return
	}
	r.log().Info("control request", "action", a.String(), "reply", strings.TrimSpace(out))
}

// actDuringCall waits for the caller to go active and takes the actions
// that are not BeforeDial at their times.
func (r *Runner) actDuringCall(ctx context.Context, done <-chan struct{}, events string, actions []Action) {
	if !WaitForLine(done, events, []byte(`"state":"active"`), time.Minute) {
		return
	}
	t0 := parseSide(events).States["active"]
	for i := range actions {
		a := &actions[i]
		if a.BeforeDial {
			continue
		}
		select {
		case <-done:
			return
		case <-time.After(time.Until(t0.Add(a.At))):
		}
		r.act(ctx, a)
	}
}
