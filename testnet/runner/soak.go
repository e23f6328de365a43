package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lokicall/lokicall/measure"
	"github.com/lokicall/lokicall/testnet/leak"
)

// SoakPlan is one long call alice → bob through Lokinet's dynamics:
// session swaps, path expiry, a relay killed and a daemon restarted along
// the way, with both lokicall processes sampled every Sample.
type SoakPlan struct {
	Duration time.Duration `json:"duration"`
	Params   Params        `json:"params"`
	// SessionSwap is the nodes' -session-swap (force: every session is
	// replaced every SwapPeriod, its traffic stalled 240–550 ms).
	SessionSwap string        `json:"session_swap"`
	SwapPeriod  time.Duration `json:"swap_period"`
	// PathLifetime is the nodes' -path-lifetime.
	PathLifetime time.Duration `json:"path_lifetime"`
	// KillAt kills the second relay of alice's current path this long
	// after the caller went active; RelayBackAfter starts it again. 0: no
	// kill.
	KillAt         time.Duration `json:"kill_at"`
	RelayBackAfter time.Duration `json:"relay_back_after"`
	// RestartAt restarts RestartNode's daemon (lokinet-emu ctl restart)
	// for RestartDown; 0: none.
	RestartAt   time.Duration `json:"restart_at"`
	RestartNode string        `json:"restart_node"`
	RestartDown time.Duration `json:"restart_down"`
	// Sample is the resource sampling interval (and the bin of the
	// figures over time).
	Sample time.Duration `json:"sample"`
	// Settle is left out of the flatness test after each disturbance
	// (relay kill, daemon restart).
	Settle time.Duration `json:"settle"`
}

// DefaultSoakPlan is `make testnet-soak`'s plan for a call of d: swaps
// forced on, paths expiring at min(10 m, d/4), the relay killed at 40 %
// and bob's daemon restarted at 70 % of the call.
func DefaultSoakPlan(d time.Duration) SoakPlan {
	return SoakPlan{Duration: d, Params: DefaultParams, SessionSwap: "force", SwapPeriod: 50 * time.Second,
		PathLifetime: min(10*time.Minute, d/4), KillAt: d * 4 / 10, RelayBackAfter: 30 * time.Second,
		RestartAt: d * 7 / 10, RestartNode: "bob", RestartDown: 3 * time.Second, Sample: 10 * time.Second, Settle: 20 * time.Second}
}

// env is the plan as compose.yaml's environment.
func (p SoakPlan) env() []string {
	return append(p.Params.Env(), "SESSION_SWAP="+p.SessionSwap, "SWAP_PERIOD="+p.SwapPeriod.String(),
		"PATH_LIFETIME="+p.PathLifetime.String())
}

// ProcSample is one sample of a lokicall process: lokinet-emu procstat in
// its node's container (/proc), and the goroutines of its latest live event.
type ProcSample struct {
	Side string  `json:"side"` // caller or callee
	AtS  float64 `json:"at_s"` // after the caller went active
	// RSSMB is the resident set; CPUSeconds the process's user + system
	// time so far; CPUPercent the share of one core since the previous
	// sample.
	RSSMB      float64 `json:"rss_mb"`
	CPUSeconds float64 `json:"cpu_s"`
	CPUPercent float64 `json:"cpu_percent"`
	Threads    int     `json:"threads"`
	Goroutines int     `json:"goroutines"`
}

// SoakEvent is a disturbance a node logged (or the runner caused) during
// the call.
type SoakEvent struct {
	AtS    float64 `json:"at_s"`
	Node   string  `json:"node"`
	Kind   string  `json:"kind"`
	Detail string  `json:"detail,omitempty"`
}

// NodeStatus is the part of `lokinet-emu ctl status` a soak reports.
type NodeStatus struct {
	Path         []string `json:"path"`
	Restarts     int      `json:"restarts"`
	PathsBuilt   int      `json:"paths_built"`
	PathsRebuilt int      `json:"paths_rebuilt"`
	PathsExpired int      `json:"paths_expired"`
	Swaps        int      `json:"swaps"`
}

// SoakReport is a soak run's result; Run holds the call as any run's
// report does (run.json, calls.csv, summary.md, plots).
type SoakReport struct {
	Plan    SoakPlan              `json:"plan"`
	Run     *Report               `json:"-"`
	Samples []ProcSample          `json:"samples"`
	Events  []SoakEvent           `json:"events"`
	Kill    *Kill                 `json:"kill,omitempty"`
	Status  map[string]NodeStatus `json:"node_status"`
	// Series are the figures over time, one point per Sample; Flat the
	// verdict on each.
	Series []Series `json:"series"`
	// Plots are the PNG files of the series, in Run.Dir.
	Plots []string `json:"plots"`
}

// Soak runs plan on the testnet (which it brings up with the plan's
// dynamics) and writes its report under r.Results/<date>-soak-.../. The
// error wraps ErrLeak or ErrCallFailed when the run failed a check.
func (r *Runner) Soak(ctx context.Context, plan SoakPlan) (*SoakReport, error) {
	if r.Progress != nil {
		r.Progress(Progress{Step: 1, Total: 1, Scenario: "soak", What: fmt.Sprintf("one call of %s", plan.Duration)})
	}
	return r.soak(ctx, plan, time.Now().Format("2006-01-02T150405")+"-soak-"+plan.Params.Name()+"-T"+short(plan.Duration))
}

// soak runs plan with its report in r.Results/runName (a path relative to
// r.Results, the folder the nodes see as /results).
func (r *Runner) soak(ctx context.Context, plan SoakPlan, runName string) (*SoakReport, error) {
	if r.Clicks == (measure.ClickConfig{}) {
		r.Clicks = DefaultClicks
	}
	start := time.Now()
	sc := &Scenario{Name: "soak", Params: plan.Params}
	rep := &Report{Plan: Plan{Name: "soak", Base: plan.Params, Calls: 1, Duration: plan.Duration}, Dir: filepath.Join(r.Results, runName),
		Started: start, UID: r.Testnet.UID, Clicks: r.Clicks, Scenarios: []*Scenario{sc}}
	sr := &SoakReport{Plan: plan, Run: rep, Status: map[string]NodeStatus{}}
	dir := filepath.Join(rep.Dir, sc.Name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	_ = os.Chmod(dir, 0o777) // lokicall writes here as its own uid
	if err := r.soakUp(ctx, plan); err != nil {
		return nil, err
	}
	nodes := []string{"alice", "bob"}
	if err := r.resetLeak(ctx, nodes); err != nil {
		return nil, err
	}
	addr, err := r.Testnet.Whoami(ctx, "bob")
	if err != nil {
		return nil, err
	}
	cs := callSpec{scenario: sc.Name, params: plan.Params, duration: plan.Duration, port: 7787, dir: dir,
		cdir: "/results/" + runName + "/" + sc.Name, caller: "alice", callee: "bob", addr: addr}
	f := callFiles{dir: dir, cdir: cs.cdir, tag: "call00"}

	dctx, stopDisturb := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.soakDisturb(dctx, plan, f.host("caller.jsonl"), sr) })
	res := r.runCall(ctx, cs)
	stopDisturb()
	wg.Wait()
	if !res.OK {
		rep.Failed++
	}
	sc.Calls = []CallResult{res}

	for _, n := range nodes {
		if st, err := r.nodeStatus(context.WithoutCancel(ctx), n); err == nil {
			sr.Status[n] = st
		} else {
			r.log().Warn("soak: node status", "node", n, "err", err)
		}
		sr.Events = append(sr.Events, r.nodeEvents(context.WithoutCancel(ctx), n, res.T0)...)
		c, err := r.readLeak(context.WithoutCancel(ctx), n)
		if err != nil {
			return sr, err
		}
		if sc.Leak == nil {
			sc.Leak = map[string]leak.Counts{}
		}
		sc.Leak[n] = c
		rep.Leak.LokinetPackets += c.Lokinet.Packets
		rep.Leak.ResolverPackets += c.Resolver.Packets
		rep.Leak.Leaked += c.Leaked.Packets
	}
	sortEvents(sr.Events)
	sr.Series = soakSeries(sr, &res)
	rep.Finished = time.Now()
	rep.Leak.Passed = rep.Leak.Leaked == 0 && rep.Leak.LokinetPackets > 0
	if err := Write(rep); err != nil {
		return sr, err
	}
	if err := writeSoak(sr); err != nil {
		return sr, err
	}
	switch {
	case rep.Leak.Leaked > 0:
		return sr, fmt.Errorf("%w: %d packets", ErrLeak, rep.Leak.Leaked)
	case rep.Failed > 0:
		return sr, fmt.Errorf("%w: %s", ErrCallFailed, res.Error)
	}
	return sr, nil
}

// soakUp (re)starts the testnet with the plan's link parameters and
// dynamics and waits until alice and bob have a path.
func (r *Runner) soakUp(ctx context.Context, plan SoakPlan) error {
	t := r.Testnet
	t.ids = nil
	env := append(plan.env(), fmt.Sprintf("LOKICALL_UID=%d", t.UID))
	if _, err := t.run(ctx, env, append(t.compose(), "up", "-d", "--remove-orphans")...); err != nil {
		return err
	}
	for _, n := range []string{"alice", "bob"} {
		if _, err := t.Exec(ctx, n, false, nil, nil, "/lokinet-emu", "wait", "-timeout", "90s"); err != nil {
			return fmt.Errorf("%w: %s has no path: %w", ErrTestnet, n, err)
		}
	}
	return nil
}

// soakDisturb waits for the caller to go active, then samples both
// lokicall processes every plan.Sample, kills a relay at plan.KillAt and
// restarts a daemon at plan.RestartAt, until ctx ends.
func (r *Runner) soakDisturb(ctx context.Context, plan SoakPlan, callerEvents string, sr *SoakReport) {
	if !WaitForLine(ctx.Done(), callerEvents, []byte(`"state":"active"`), 2*time.Minute) {
		return
	}
	t0 := parseSide(callerEvents).States["active"] // the origin of CallResult's time axes
	if t0.IsZero() {
		t0 = time.Now()
	}
	at := func() float64 { return time.Since(t0).Seconds() }
	var mu sync.Mutex
	event := func(node, kind, detail string) {
		mu.Lock()
		sr.Events = append(sr.Events, SoakEvent{AtS: at(), Node: node, Kind: kind, Detail: detail})
		mu.Unlock()
	}
	var wg sync.WaitGroup
	after := func(d time.Duration, fn func()) {
		if d <= 0 {
			return
		}
		wg.Go(func() {
			select {
			case <-ctx.Done():
			case <-time.After(d - time.Since(t0)):
				fn()
			}
		})
	}
	after(plan.KillAt, func() {
		k, err := r.killOnPath(ctx, "alice")
		if err != nil {
			r.log().Warn("soak: relay kill", "err", err)
			return
		}
		k.AtS = at()
		sr.Kill = k
		event("runner", "relay killed", k.Relay+" "+k.Address)
		select {
		case <-ctx.Done():
		case <-time.After(plan.RelayBackAfter):
		}
		if err := r.Testnet.Start(context.WithoutCancel(ctx), k.Relay); err != nil {
			r.log().Warn("soak: restarting the killed relay", "relay", k.Relay, "err", err)
			return
		}
		event("runner", "relay started again", k.Relay)
	})
	after(plan.RestartAt, func() {
		if _, err := r.Testnet.Exec(ctx, plan.RestartNode, false, nil, nil, "/lokinet-emu", "ctl", "restart", "-down", plan.RestartDown.String()); err != nil {
			r.log().Warn("soak: daemon restart", "err", err)
			return
		}
		event("runner", "daemon restart", plan.RestartNode+" down "+plan.RestartDown.String())
	})
	tick := time.NewTicker(plan.Sample)
	defer tick.Stop()
	prev := map[string]ProcSample{}
	for {
		for _, side := range [][2]string{{"caller", "alice"}, {"callee", "bob"}} {
			s, err := r.procSample(ctx, side[1])
			if err != nil {
				if ctx.Err() == nil {
					r.log().Warn("soak: sample", "node", side[1], "err", err)
				}
				continue
			}
			s.Side, s.AtS = side[0], at()
			if p, ok := prev[side[0]]; ok && s.AtS > p.AtS {
				s.CPUPercent = 100 * (s.CPUSeconds - p.CPUSeconds) / (s.AtS - p.AtS)
			}
			prev[side[0]] = s
			mu.Lock()
			sr.Samples = append(sr.Samples, s)
			mu.Unlock()
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// procSample reads the lokicall process in a node's container.
func (r *Runner) procSample(ctx context.Context, node string) (ProcSample, error) {
	out, err := r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "procstat", "-name", "lokicall")
	if err != nil {
		return ProcSample{}, err
	}
	var ps []struct {
		RSSBytes   int     `json:"rss_bytes"`
		CPUSeconds float64 `json:"cpu_s"`
		Threads    int     `json:"threads"`
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return ProcSample{}, fmt.Errorf("%w: procstat on %s: %w", ErrTestnet, node, err)
	}
	if len(ps) == 0 {
		return ProcSample{}, fmt.Errorf("%w: no lokicall process on %s", ErrTestnet, node)
	}
	p := ps[0]
	return ProcSample{RSSMB: float64(p.RSSBytes) / (1 << 20), CPUSeconds: p.CPUSeconds, Threads: p.Threads}, nil
}

// nodeStatus asks a node's control socket for its counters.
func (r *Runner) nodeStatus(ctx context.Context, node string) (NodeStatus, error) {
	out, err := r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "ctl", "status")
	if err != nil {
		return NodeStatus{}, err
	}
	var st NodeStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return NodeStatus{}, fmt.Errorf("%w: ctl status on %s: %w", ErrTestnet, node, err)
	}
	return st, nil
}

// killOnPath kills the second relay (or the only one) of a node's current
// path, as its control socket reports it.
func (r *Runner) killOnPath(ctx context.Context, node string) (*Kill, error) {
	st, err := r.nodeStatus(ctx, node)
	if err != nil {
		return nil, err
	}
	if len(st.Path) == 0 {
		return nil, fmt.Errorf("%w: %s has no path", ErrTestnet, node)
	}
	victim := st.Path[min(1, len(st.Path)-1)]
	ip, _, _ := strings.Cut(victim, ":")
	svc, err := r.Testnet.ServiceByIP(ctx, ip)
	if err != nil {
		return nil, err
	}
	if err := r.Testnet.Kill(ctx, svc); err != nil {
		return nil, err
	}
	r.log().Info("killed relay on the caller's path", "relay", svc, "addr", victim, "path", st.Path)
	return &Kill{Relay: svc, Address: victim}, nil
}

// nodeLine is a node's log line of one of the dynamics a soak reports.
var nodeLine = regexp.MustCompile(`(?m)^time=(\S+) level=\S+ msg="(session replaced|path expired|path replaced|path dead|path rebuilt|` +
	`daemon stopped for a restart|daemon restarted|traffic from peer resumed)"(.*)$`)

// nodeEvents returns the dynamics a node logged after t0, the caller going
// active.
func (r *Runner) nodeEvents(ctx context.Context, node string, t0 time.Time) []SoakEvent {
	out, err := r.Testnet.Logs(ctx, node)
	if err != nil || t0.IsZero() {
		return nil
	}
	return parseNodeEvents(out, node, t0)
}

// parseNodeEvents picks a node's log lines of the dynamics a soak reports
// (nodeLine) from t0 on, with their *_ms figures (stall_ms, outage_ms,
// gap_ms, ...) as the detail.
func parseNodeEvents(log, node string, t0 time.Time) []SoakEvent {
	var evs []SoakEvent
	for _, m := range nodeLine.FindAllStringSubmatch(log, -1) {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || at.Before(t0) {
			continue
		}
		var detail []string
		for _, kv := range strings.Fields(m[3]) {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasSuffix(k, "_ms") {
				if _, err := strconv.ParseFloat(v, 64); err == nil {
					detail = append(detail, kv)
				}
			}
		}
		evs = append(evs, SoakEvent{AtS: at.Sub(t0).Seconds(), Node: node, Kind: m[2], Detail: strings.Join(detail, " ")})
	}
	return evs
}
