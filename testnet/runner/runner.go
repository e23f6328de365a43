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
	// NoBase leaves out the calls at the base parameters (a run of
	// dynamics scenarios alone).
	NoBase bool `json:"no_base,omitempty"`
	// Dynamics are scenarios of Lokinet's dynamics, one call each.
	Dynamics []Dynamic `json:"dynamics,omitempty"`
	// Soak > 0 adds, after the dynamics, a soak of this length
	// (DefaultSoakPlan) with its own report in the run's soak/ folder and
	// its flatness table in the run's report.
	Soak time.Duration `json:"soak,omitempty"`
	// Strict makes a failed call fail the run. Without it a call that fails
	// is a result: reported with its cause in the summary, and the run
	// fails only when the testnet could not run or the leak proof failed.
	Strict bool `json:"strict,omitempty"`
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
	// Traces is the host folder of the trace files the image has in
	// /traces; testnet/traces if empty.
	Traces string
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
	// Soak is the short form of the run's soak, if it had one.
	Soak *SoakShort `json:"soak,omitempty"`
	Leak LeakProof  `json:"leak"`
	// Failed counts calls that did not complete or carried no audio.
	Failed int `json:"failed_calls"`
}

// Run runs plan and writes its results under r.Results/<date>-<name>/. It
// returns the report with an error wrapping ErrLeak or ErrControlMissed if
// the run failed one of its checks, ErrCallFailed if a call failed and
// plan.Strict, or the error that stopped the testnet.
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

// job is one scenario of a run and its calls.
type job struct {
	sc       *Scenario
	calls    int
	kill     bool
	loopback bool
	dynamic  *Dynamic
}

// planJobs lists a plan's scenarios in the order they run: the loopback
// baseline, the base, the sweeps' points, the relay kill, the dynamics.
func planJobs(plan Plan) []job {
	var jobs []job
	if plan.Loopback > 0 {
		jobs = append(jobs, job{sc: &Scenario{Name: "loopback", Params: Params{Concurrent: 1, Pairs: 1}}, calls: plan.Loopback, loopback: true})
	}
	if !plan.NoBase {
		jobs = append(jobs, job{sc: &Scenario{Name: "base", Params: plan.Base}, calls: plan.Calls})
	}
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
	for i := range plan.Dynamics {
		d := &plan.Dynamics[i]
		jobs = append(jobs, job{sc: &Scenario{Name: d.Name, Params: d.Params}, calls: 1, dynamic: d})
	}
	return jobs
}

// running is one run in progress.
type running struct {
	*Runner
	plan    Plan
	rep     *Report
	runName string
	step    int
	total   int
	current *Params // the testnet's parameters, nil before the first scenario
}

func (ru *running) progress(sc, what string) {
	ru.step++
	if ru.Progress != nil {
		ru.Progress(Progress{Step: ru.step, Total: ru.total, Scenario: sc, What: what, Elapsed: time.Since(ru.rep.Started)})
	}
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
	ru := &running{Runner: r, plan: plan}
	ru.runName = start.Format("2006-01-02T150405") + "-" + plan.Name + "-" + plan.Base.Name() + fmt.Sprintf("-T%s", short(plan.Duration))
	ru.rep = &Report{Plan: plan, Dir: filepath.Join(r.Results, ru.runName), Started: start, UID: r.Testnet.UID, Clicks: r.Clicks}
	jobs := planJobs(plan)
	for _, j := range jobs {
		ru.total += j.calls + 1
	}
	if plan.NegativeControl {
		ru.total++
	}
	if plan.Soak > 0 {
		ru.total++
	}
	for _, j := range jobs {
		ru.rep.Scenarios = append(ru.rep.Scenarios, j.sc)
		dir := filepath.Join(ru.rep.Dir, j.sc.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return ru.rep, fmt.Errorf("runner: %w", err)
		}
		_ = os.Chmod(dir, 0o777) // lokicall writes here as its own uid
		do := ru.scenario
		if j.loopback {
			do = ru.loopback
		}
		if err := do(ctx, j, dir); err != nil {
			return ru.rep, err
		}
		if err := WriteJSON(filepath.Join(dir, "scenario.json"), j.sc); err != nil {
			return ru.rep, err
		}
	}
	if plan.Soak > 0 {
		if err := ru.soakStep(ctx); err != nil {
			return ru.rep, err
		}
	}
	return ru.rep, ru.finish(ctx)
}

// record adds a call's result to its scenario.
func (ru *running) record(sc *Scenario, res CallResult) {
	if !res.OK {
		ru.rep.Failed++
		ru.log().Warn("call failed", "scenario", sc.Name, "index", res.Index, "err", res.Error)
	}
	sc.Calls = append(sc.Calls, res)
}

// loopback runs the loopback baseline's calls on the host.
func (ru *running) loopback(ctx context.Context, j job, dir string) error {
	sc := j.sc
	for i := 0; i < j.calls; i++ {
		ru.progress(sc.Name, fmt.Sprintf("loopback call %d/%d on the host", i+1, j.calls))
		ru.record(sc, ru.runLoopbackCall(ctx, callSpec{scenario: sc.Name, index: i, params: sc.Params, duration: ru.plan.Duration, dir: dir}))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	ru.rep.LoopbackMS = Summarize(figures(sc).m2e).P50
	return nil
}

// scenario brings the testnet to the scenario's parameters, makes its
// calls and collects the leak counters over them.
func (ru *running) scenario(ctx context.Context, j job, dir string) error {
	sc := j.sc
	ru.progress(sc.Name, "starting the testnet")
	if ru.current == nil || *ru.current != sc.Params {
		if err := ru.Testnet.Up(ctx, sc.Params); err != nil {
			return err
		}
		p := sc.Params
		ru.current = &p
	}
	nodes := sc.Params.Nodes()
	if err := ru.resetLeak(ctx, nodes); err != nil {
		return err
	}
	pairs := NodePairs[:min(len(NodePairs), sc.Params.pairs())]
	addrs := make([]string, len(pairs))
	for k, pr := range pairs {
		a, err := ru.Testnet.Whoami(ctx, pr[1])
		if err != nil {
			return err
		}
		addrs[k] = a
	}
	for i := 0; i < j.calls; i++ {
		ru.progress(sc.Name, fmt.Sprintf("call %d/%d", i+1, j.calls))
		var specs []callSpec
		for k, pr := range pairs {
			for c := range max(1, sc.Params.Concurrent) {
				specs = append(specs, ru.spec(j, dir, len(sc.Calls)+len(specs), 7787+c, pr, addrs[k]))
			}
		}
		results := make([]CallResult, len(specs))
		var wg sync.WaitGroup
		for c, cs := range specs {
			wg.Go(func() { results[c] = ru.runCall(ctx, cs) })
		}
		wg.Wait()
		for _, res := range results {
			res.setLoopback(ru.rep.LoopbackMS)
			ru.record(sc, res)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return ru.collectLeak(ctx, sc, nodes)
}

// spec is the call of job j with the given index and port between pair.
func (ru *running) spec(j job, dir string, index, port int, pair [2]string, addr string) callSpec {
	cs := callSpec{scenario: j.sc.Name, index: index, params: j.sc.Params, duration: ru.plan.Duration,
		port: port, dir: dir, cdir: "/results/" + ru.runName + "/" + j.sc.Name,
		caller: pair[0], callee: pair[1], addr: addr}
	if j.kill {
		cs.tone, cs.killAt = true, ru.plan.KillAt
	}
	if d := j.dynamic; d != nil {
		cs.tone, cs.duration, cs.dynamic = true, d.Duration, d
	}
	return cs
}

// collectLeak reads the nodes' leak counters into the scenario and the
// run's totals.
func (ru *running) collectLeak(ctx context.Context, sc *Scenario, nodes []string) error {
	sc.Leak = map[string]leak.Counts{}
	for _, node := range nodes {
		c, err := ru.readLeak(ctx, node)
		if err != nil {
			return err
		}
		sc.Leak[node] = c
		lp := &ru.rep.Leak
		lp.LokinetPackets += c.Lokinet.Packets
		lp.ResolverPackets += c.Resolver.Packets
		lp.Leaked += c.Leaked.Packets
	}
	return nil
}

// finish runs the negative control, puts the testnet back to its defaults,
// writes the report and gives the run's verdict: failed calls fail it only
// with Plan.Strict.
func (ru *running) finish(ctx context.Context) error {
	rep, plan := ru.rep, ru.plan
	if plan.NegativeControl {
		ru.progress("negative-control", "leaking on purpose under lokicall's uid")
		if err := ru.negativeControl(ctx, &rep.Leak); err != nil {
			return err
		}
	}
	// Back to the defaults for whoever uses the testnet next.
	if ru.current != nil && *ru.current != DefaultParams || rep.Soak != nil {
		if err := ru.Testnet.Up(ctx, DefaultParams); err != nil {
			ru.log().Warn("restoring default parameters", "err", err)
		}
	}
	rep.Finished = time.Now()
	rep.Leak.Passed = rep.Leak.Leaked == 0 && rep.Leak.LokinetPackets > 0 && (!plan.NegativeControl || rep.Leak.ControlFlagged)
	if err := Write(rep); err != nil {
		return err
	}
	switch {
	case rep.Leak.Leaked > 0:
		return fmt.Errorf("%w: %d packets", ErrLeak, rep.Leak.Leaked)
	case plan.NegativeControl && !rep.Leak.ControlFlagged:
		return ErrControlMissed
	case rep.Failed > 0 && plan.Strict:
		return fmt.Errorf("%w: %d of the calls", ErrCallFailed, rep.Failed)
	}
	return nil
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
// lokicall's uid from alice and checks that the counters catch them. The
// relay is the first hop of alice's path, on the testnet's underlay
// whatever its subnet (TESTNET_NET); relay1 of the default subnet if her
// node does not say.
func (r *Runner) negativeControl(ctx context.Context, lp *LeakProof) error {
	const n = 3
	if err := r.resetLeak(ctx, []string{"alice"}); err != nil {
		return err
	}
	to := "10.89.0.11:1090"
	if st, err := r.nodeStatus(ctx, "alice"); err == nil && len(st.Path) > 0 {
		to = st.Path[0]
	}
	if _, err := r.Testnet.Exec(ctx, "alice", true, nil, nil, "/lokinet-emu", "leak", "-to", to, "-count", strconv.Itoa(n)); err != nil {
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

// WriteJSON writes v to path as indented JSON.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}
