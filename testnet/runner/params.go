package runner

import (
	"fmt"
	"strings"
	"time"
)

// Params are one scenario's knobs. Link parameters apply to every relay
// (each delays every packet it sends); Hops to both nodes' paths.
type Params struct {
	Hops       int           `json:"hops"`
	Delay      time.Duration `json:"delay"`
	Jitter     time.Duration `json:"jitter"`
	Loss       float64       `json:"loss"`
	Concurrent int           `json:"concurrent"`
	// Pairs is how many node pairs call at once (alice → bob, carol →
	// dave, ...: NodePairs; more than one needs the compose.pairs.yaml
	// override), each pair making Concurrent calls.
	Pairs int `json:"pairs"`
	// SessionSwap is the nodes' Lokinet session replacement (off, auto,
	// force: testnet/README.md); "" is off.
	SessionSwap string `json:"session_swap,omitempty"`
	// Trace is a trace file in the image (/traces/...) both nodes replay on
	// their egress; with one the relays add no delay or jitter of their
	// own, as the trace carries the real network's.
	Trace string `json:"trace,omitempty"`
}

// NodePairs are the caller → callee node pairs, in the order a pairs sweep
// uses them: alice and bob from compose.yaml, the others from
// compose.pairs.yaml.
var NodePairs = [][2]string{{"alice", "bob"}, {"carol", "dave"}, {"erin", "frank"}, {"grace", "heidi"}}

// pairs returns Pairs, at least 1.
func (p Params) pairs() int { return max(1, p.Pairs) }

// Nodes returns the node services in use with p: the nodes of its pairs.
func (p Params) Nodes() []string {
	var out []string
	for _, pr := range NodePairs[:min(len(NodePairs), p.pairs())] {
		out = append(out, pr[0], pr[1])
	}
	return out
}

// DefaultParams are the testnet's defaults (testnet/README.md: about
// 250 ms client-to-client RTT over 2 × 4 relays).
var DefaultParams = Params{Hops: 4, Delay: 15 * time.Millisecond, Jitter: 2 * time.Millisecond, Concurrent: 1, Pairs: 1}

// Env is p as compose.yaml's environment variables.
func (p Params) Env() []string {
	delay, jitter := p.Delay, p.Jitter
	if p.Trace != "" {
		delay, jitter = 0, 0
	}
	swap := p.SessionSwap
	if swap == "" {
		swap = "off"
	}
	return []string{
		fmt.Sprintf("HOPS=%d", p.Hops),
		"RELAY_DELAY=" + delay.String(),
		"RELAY_JITTER=" + jitter.String(),
		fmt.Sprintf("RELAY_LOSS=%g", p.Loss),
		"SESSION_SWAP=" + swap,
		"TRACE=" + p.Trace,
	}
}

// Name is a short name for folders and tables.
func (p Params) Name() string {
	s := fmt.Sprintf("h%d-d%s-j%s-l%g", p.Hops, short(p.Delay), short(p.Jitter), p.Loss*100)
	if p.Concurrent > 1 {
		s += fmt.Sprintf("-c%d", p.Concurrent)
	}
	if p.Pairs > 1 {
		s += fmt.Sprintf("-p%d", p.Pairs)
	}
	if p.SessionSwap != "" && p.SessionSwap != "off" {
		s += "-swap" + p.SessionSwap
	}
	if p.Trace != "" {
		s += "-trace"
	}
	return s
}

// short is d.String() without a trailing "0s" after minutes ("1m0s" → "1m").
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

// ModelledOneWay is the configured delay from node to node: a packet is
// sent by 2 × Hops relays (the sender's path, then the receiver's from its
// introduction relay), each adding Delay on average.
func (p Params) ModelledOneWay() time.Duration {
	if p.Trace != "" {
		return 0 // the trace's delay is measured, not modelled
	}
	return time.Duration(2*p.Hops) * p.Delay
}

// Sweep is one parameter varied over values, the others at the base.
type Sweep struct {
	Name   string // hops, delay, jitter, loss, concurrent, pairs
	Values []string
}

// ParseSweep parses "name=v1,v2,...".
func ParseSweep(s string) (Sweep, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok || vals == "" {
		return Sweep{}, fmt.Errorf("runner: sweep %q: want name=v1,v2", s)
	}
	sw := Sweep{Name: name, Values: strings.Split(vals, ",")}
	for _, v := range sw.Values {
		if _, err := sw.apply(DefaultParams, v); err != nil {
			return Sweep{}, err
		}
	}
	return sw, nil
}

// Points returns the scenarios of the sweep around base.
func (s Sweep) Points(base Params) []Params {
	var out []Params
	for _, v := range s.Values {
		p, _ := s.apply(base, v)
		out = append(out, p)
	}
	return out
}

func (s Sweep) apply(p Params, v string) (Params, error) {
	var err error
	switch s.Name {
	case "hops":
		_, err = fmt.Sscan(v, &p.Hops)
		if err == nil && (p.Hops < 1 || p.Hops > 8) {
			err = fmt.Errorf("hops %d out of 1..8", p.Hops)
		}
	case "delay":
		p.Delay, err = time.ParseDuration(v)
	case "jitter":
		p.Jitter, err = time.ParseDuration(v)
	case "loss":
		_, err = fmt.Sscan(v, &p.Loss)
	case "concurrent":
		_, err = fmt.Sscan(v, &p.Concurrent)
	case "pairs":
		_, err = fmt.Sscan(v, &p.Pairs)
		if err == nil && (p.Pairs < 1 || p.Pairs > len(NodePairs)) {
			err = fmt.Errorf("pairs %d out of 1..%d", p.Pairs, len(NodePairs))
		}
	default:
		err = fmt.Errorf("unknown parameter (hops, delay, jitter, loss, concurrent, pairs)")
	}
	if err != nil {
		return p, fmt.Errorf("runner: sweep %s=%s: %w", s.Name, v, err)
	}
	return p, nil
}
