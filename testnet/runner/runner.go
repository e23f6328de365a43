package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/lokicall/lokicall/measure"
	"github.com/lokicall/lokicall/testnet/leak"
)

// Plan is what a run does.
type Plan struct {
	// Name names the run's folder (with the date and base parameters).
	Name string `json:"name"`
	Base Params `json:"base"`
	// Calls at the base parameters, each Duration long.
	Calls    int           `json:"calls"`
	Duration time.Duration `json:"duration"`
	// Sweeps vary one parameter each; SweepCalls calls per point.
	Sweeps     []Sweep `json:"sweeps,omitempty"`
	SweepCalls int     `json:"sweep_calls"`
	// KillAt > 0 adds one call (a steady tone, base parameters) during
	// which a relay on alice's path is killed this long after the caller
	// went active.
	KillAt time.Duration `json:"kill_at,omitempty"`
	// Loopback calls (each Duration long) between two lokicall processes
	// on the host, with no network, make the baseline of lokicall's own
	// delay; they run first and need Runner.Lokicall.
	Loopback int `json:"loopback"`
	// NegativeControl sends a few datagrams outside Lokinet under
	// lokicall's uid at the end, which the leak proof must flag.
	NegativeControl bool `json:"negative_control"`
}

// Progress is reported before each step of a run.
type Progress struct {
	Step, Total int
	Scenario    string
	What        string
	Elapsed     time.Duration
}

// Runner runs plans on a testnet.
type Runner struct {
	Testnet *Testnet
	// Clicks is the caller's test signal; DefaultClicks if zero.
	Clicks measure.ClickConfig
	// Lokicall is the lokicall executable on the host for the loopback
	// baseline (the static one built for the image will do).
	Lokicall string
	// Results is the host folder bind-mounted at /results in the nodes.
	Results string
	// Progress, if set, is called before every step.
	Progress func(Progress)
	// Logger; none if nil.
	Logger *slog.Logger
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Scenario is one set of parameters and its calls.
type Scenario struct {
	Name   string       `json:"name"`
	Sweep  string       `json:"sweep,omitempty"` // the parameter this point varies
	Params Params       `json:"params"`
	Calls  []CallResult `json:"calls"`
	// Leak holds the counters of each node over this scenario's calls.
	Leak map[string]leak.Counts `json:"leak"`
}

// LeakProof is the verdict over the whole run.
type LeakProof struct {
	// LokinetPackets and Leaked sum lokicall's packets into lokitun0 and
	// everywhere else over all calls and both nodes.
	LokinetPackets  uint64 `json:"lokinet_packets"`
	ResolverPackets uint64 `json:"resolver_packets"`
	Leaked          uint64 `json:"leaked_packets"`
	// Control: datagrams the negative control sent and how many of them
	// the counters caught.
	ControlSent    int    `json:"control_sent"`
	ControlCounted uint64 `json:"control_counted"`
	ControlFlagged bool   `json:"control_flagged"`
	Passed         bool   `json:"passed"`
}

// Report is a run's result.
type Report struct {
	Plan     Plan                `json:"plan"`
	Dir      string              `json:"dir"`
	Started  time.Time           `json:"started"`
	Finished time.Time           `json:"finished"`
	UID      int                 `json:"uid"`
	Clicks   measure.ClickConfig `json:"clicks"`
	// LoopbackMS is the loopback baseline: the median mouth-to-ear delay
	// over all clicks of the loopback calls (0: none).
	LoopbackMS float64     `json:"loopback_ms"`
	Scenarios  []*Scenario `json:"scenarios"`
	Leak       LeakProof   `json:"leak"`
	// Failed counts calls that did not complete or carried no audio.
	Failed int `json:"failed_calls"`
}

// Run runs plan and writes its results under r.Results/<date>-<name>/. It
// returns the report with an error wrapping ErrCallFailed, ErrLeak or
// ErrControlMissed if the run failed one of its checks.
func (r *Runner) Run(ctx context.Context, plan Plan) (*Report, error) {
	rep, err := r.run(ctx, plan)
	if err != nil && rep != nil && len(rep.Scenarios) > 0 && rep.Finished.IsZero() {
		// Aborted: keep what was measured.
		rep.Finished = time.Now()
		if werr := Write(rep); werr != nil {
			r.log().Warn("writing the partial report", "err", werr)
		}
	}
	return rep, err
}

func (r *Runner) run(ctx context.Context, plan Plan) (*Report, error) {
	if r.Clicks == (measure.ClickConfig{}) {
		r.Clicks = DefaultClicks
	}
	if plan.Calls <= 0 {
		plan.Calls = 1
	}
	if plan.SweepCalls <= 0 {
		plan.SweepCalls = plan.Calls
	}
	start := time.Now()
	runName := start.Format("2006-01-02T150405") + "-" + plan.Name + "-" + plan.Base.Name() + fmt.Sprintf("-T%s", short(plan.Duration))
	rep := &Report{Plan: plan, Dir: filepath.Join(r.Results, runName), Started: start, UID: r.Testnet.UID, Clicks: r.Clicks}

	type job struct {
		sc       *Scenario
		calls    int
		kill     bool
		loopback bool
	}
	var jobs []job
	if plan.Loopback > 0 {
		jobs = append(jobs, job{sc: &Scenario{Name: "loopback", Params: Params{Concurrent: 1, Pairs: 1}}, calls: plan.Loopback, loopback: true})
	}
	base := &Scenario{Name: "base", Params: plan.Base}
	jobs = append(jobs, job{sc: base, calls: plan.Calls})
	for _, sw := range plan.Sweeps {
		for _, p := range sw.Points(plan.Base) {
			if p == plan.Base {
				continue // the base scenario already has these calls
			}
			jobs = append(jobs, job{sc: &Scenario{Name: sw.Name + "-" + p.Name(), Sweep: sw.Name, Params: p}, calls: plan.SweepCalls})
		}
	}
	if plan.KillAt > 0 {
		jobs = append(jobs, job{sc: &Scenario{Name: "relay-kill", Params: plan.Base}, calls: 1, kill: true})
	}
	total := 0
	for _, j := range jobs {
		total += j.calls + 1
	}
	if plan.NegativeControl {
		total++
	}
	step := 0
	progress := func(sc, what string) {
		step++
		if r.Progress != nil {
			r.Progress(Progress{Step: step, Total: total, Scenario: sc, What: what, Elapsed: time.Since(start)})
		}
	}

	var current *Params
	for _, j := range jobs {
		sc := j.sc
		rep.Scenarios = append(rep.Scenarios, sc)
		dir := filepath.Join(rep.Dir, sc.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return rep, fmt.Errorf("runner: %w", err)
		}
		_ = os.Chmod(dir, 0o777) // lokicall writes here as its own uid
		if j.loopback {
			for i := 0; i < j.calls; i++ {
				progress(sc.Name, fmt.Sprintf("loopback call %d/%d on the host", i+1, j.calls))
				res := r.runLoopbackCall(ctx, callSpec{scenario: sc.Name, index: i, params: sc.Params, duration: plan.Duration, dir: dir})
				if !res.OK {
					rep.Failed++
					r.log().Warn("call failed", "scenario", sc.Name, "index", res.Index, "err", res.Error)
				}
				sc.Calls = append(sc.Calls, res)
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
			}
			rep.LoopbackMS = Summarize(figures(sc).m2e).P50
			if err := writeJSON(filepath.Join(dir, "scenario.json"), sc); err != nil {
				return rep, err
			}
			continue
		}
		progress(sc.Name, "starting the testnet")
		if current == nil || *current != sc.Params {
			if err := r.Testnet.Up(ctx, sc.Params); err != nil {
				return rep, err
			}
			p := sc.Params
			current = &p
		}
		nodes := sc.Params.Nodes()
		if err := r.resetLeak(ctx, nodes); err != nil {
			return rep, err
		}
		pairs := NodePairs[:min(len(NodePairs), sc.Params.pairs())]
		addrs := make([]string, len(pairs))
		for k, pr := range pairs {
			a, err := r.Testnet.Whoami(ctx, pr[1])
			if err != nil {
				return rep, err
			}
			addrs[k] = a
		}
		for i := 0; i < j.calls; i++ {
			progress(sc.Name, fmt.Sprintf("call %d/%d", i+1, j.calls))
			n := max(1, sc.Params.Concurrent)
			var specs []callSpec
			for k, pr := range pairs {
				for c := range n {
					cs := callSpec{scenario: sc.Name, index: len(sc.Calls) + len(specs), params: sc.Params, duration: plan.Duration,
						port: 7787 + c, dir: dir, cdir: "/results/" + runName + "/" + sc.Name,
						caller: pr[0], callee: pr[1], addr: addrs[k]}
					if j.kill {
						cs.tone, cs.killAt = true, plan.KillAt
					}
					specs = append(specs, cs)
				}
			}
			results := make([]CallResult, len(specs))
			var wg sync.WaitGroup
			for c, cs := range specs {
				wg.Go(func() { results[c] = r.runCall(ctx, cs) })
			}
			wg.Wait()
			for _, res := range results {
				if !res.OK {
					rep.Failed++
					r.log().Warn("call failed", "scenario", sc.Name, "index", res.Index, "err", res.Error)
				}
				res.setLoopback(rep.LoopbackMS)
				sc.Calls = append(sc.Calls, res)
			}
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
		}
		sc.Leak = map[string]leak.Counts{}
		for _, node := range nodes {
			c, err := r.readLeak(ctx, node)
			if err != nil {
				return rep, err
			}
			sc.Leak[node] = c
			rep.Leak.LokinetPackets += c.Lokinet.Packets
			rep.Leak.ResolverPackets += c.Resolver.Packets
			rep.Leak.Leaked += c.Leaked.Packets
		}
		if err := writeJSON(filepath.Join(dir, "scenario.json"), sc); err != nil {
			return rep, err
		}
	}
	if plan.NegativeControl {
		progress("negative-control", "leaking on purpose under lokicall's uid")
		if err := r.negativeControl(ctx, &rep.Leak); err != nil {
			return rep, err
		}
	}
	// Back to the defaults for whoever uses the testnet next.
	if current != nil && *current != DefaultParams {
		if err := r.Testnet.Up(ctx, DefaultParams); err != nil {
			r.log().Warn("restoring default parameters", "err", err)
		}
	}
	rep.Finished = time.Now()
	rep.Leak.Passed = rep.Leak.Leaked == 0 && rep.Leak.LokinetPackets > 0 && (!plan.NegativeControl || rep.Leak.ControlFlagged)
	if err := Write(rep); err != nil {
		return rep, err
	}
	switch {
	case rep.Leak.Leaked > 0:
		return rep, fmt.Errorf("%w: %d packets", ErrLeak, rep.Leak.Leaked)
	case plan.NegativeControl && !rep.Leak.ControlFlagged:
		return rep, ErrControlMissed
	case rep.Failed > 0:
		return rep, fmt.Errorf("%w: %d of the calls", ErrCallFailed, rep.Failed)
	}
	return rep, nil
}

func (r *Runner) resetLeak(ctx context.Context, nodes []string) error {
	for _, node := range nodes {
		if _, err := r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "leakcheck", "-reset", "-uid", strconv.Itoa(r.Testnet.UID)); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) readLeak(ctx context.Context, node string) (leak.Counts, error) {
	out, err := r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "leakcheck", "-uid", strconv.Itoa(r.Testnet.UID))
	if err != nil {
		return leak.Counts{}, err
	}
	var c leak.Counts
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		return leak.Counts{}, fmt.Errorf("%w: leakcheck on %s: %w", ErrTestnet, node, err)
	}
	return c, nil
}

// negativeControl sends datagrams to a relay's underlay address under
// lokicall's uid from alice and checks that the counters catch them.
func (r *Runner) negativeControl(ctx context.Context, lp *LeakProof) error {
	const n = 3
	if err := r.resetLeak(ctx, []string{"alice"}); err != nil {
		return err
	}
	if _, err := r.Testnet.Exec(ctx, "alice", true, nil, nil, "/lokinet-emu", "leak", "-to", "10.89.0.11:1090", "-count", strconv.Itoa(n)); err != nil {
		return err
	}
	c, err := r.readLeak(ctx, "alice")
	if err != nil {
		return err
	}
	lp.ControlSent, lp.ControlCounted = n, c.Leaked.Packets
	lp.ControlFlagged = c.Leaked.Packets >= n
	return nil
}

var outageLine = regexp.MustCompile(`msg="path rebuilt".*outage_ms=(\d+)`)

// lastOutage is the outage a node logged for its last path rebuild.
func (r *Runner) lastOutage(ctx context.Context, node string) float64 {
	out, err := r.Testnet.Logs(ctx, node)
	if err != nil {
		return 0
	}
	m := outageLine.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return v
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}
