package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/internal/exitstatus"
	"github.com/lokicall/lokicall/measure"
)

// Click is one click of a call's source found in the callee's output.
type Click struct {
	Index int `json:"index"`
	// AtS is when the click was captured, in seconds after the caller
	// went active (CallResult.T0).
	AtS   float64 `json:"at_s"`
	Score float64 `json:"score"`
	// M2EMS is mouth-to-ear: when the click was played at the callee
	// minus when it was captured at the caller, from lokicall's capture
	// and playout stamps on the host clock.
	M2EMS float64 `json:"m2e_ms"`
}

// Kill describes a relay killed during a call.
type Kill struct {
	Relay   string  `json:"relay"`   // compose service
	Address string  `json:"address"` // its underlay address
	AtS     float64 `json:"at_s"`    // after the caller went active
	// Gaps are the stretches of the callee's recording (of a steady tone)
	// where the audio went missing, in seconds from the recording's start.
	Gaps []Gap `json:"gaps"`
	// LongestGapMS is the longest of them.
	LongestGapMS float64 `json:"longest_gap_ms"`
	// NodeOutageMS is what the caller's node logged for the path rebuild.
	NodeOutageMS float64 `json:"node_outage_ms"`
	// Recovered: the call went on to the end ("completed" on both sides).
	Recovered bool `json:"recovered"`
}

// CallResult is everything measured about one call.
type CallResult struct {
	Scenario string    `json:"scenario"`
	Index    int       `json:"index"`
	Params   Params    `json:"params"`
	Source   string    `json:"source"`
	Duration float64   `json:"duration_s"`
	Start    time.Time `json:"start"`
	// T0 is when the caller went active: the origin of the time axes.
	T0     time.Time `json:"t0"`
	OK     bool      `json:"ok"`
	Error  string    `json:"error,omitempty"`
	Caller Side      `json:"caller"`
	Callee Side      `json:"callee"`

	// SetupS runs from dial to the first audio packet at the caller
	// (lokicall's setup_ms); SetupRTTs divides it by the path RTT.
	SetupS    float64 `json:"setup_s"`
	SetupRTTs float64 `json:"setup_path_rtts"`

	// Clicks found in the callee's output, with their mouth-to-ear delay
	// (measure.AnalyzeFiles); ClicksMissing were captured between the
	// first and last found one but not found.
	Clicks        []Click `json:"clicks,omitempty"`
	ClicksMissing int     `json:"clicks_missing"`
	M2E           Summary `json:"m2e_ms"`

	// PathRTTMS is the median RTCP round trip of the caller's live events;
	// NetworkOneWayMS half of it.
	PathRTTMS       float64 `json:"path_rtt_ms"`
	NetworkOneWayMS float64 `json:"network_one_way_ms"`
	// ModelledOneWayMS is the configured delay (2 × hops × per-link
	// delay; 0 for loopback). ExcessMS = median m2e − modelled: lokicall's
	// own delay plus the emulator's processing. OwnMS = median m2e −
	// network one-way.
	ModelledOneWayMS float64 `json:"modelled_one_way_ms"`
	ExcessMS         float64 `json:"excess_ms"`
	OwnMS            float64 `json:"own_ms"`
	// LoopbackMS is the loopback baseline of the run (median m2e of all
	// loopback clicks); VsLoopbackMS = ExcessMS − LoopbackMS and
	// VsLoopbackRatio = ExcessMS / LoopbackMS.
	LoopbackMS      float64 `json:"loopback_ms,omitempty"`
	VsLoopbackMS    float64 `json:"vs_loopback_ms,omitempty"`
	VsLoopbackRatio float64 `json:"vs_loopback_ratio,omitempty"`
	// JitterBufferMS is the mean of the callee's live jitter-buffer delay.
	JitterBufferMS float64 `json:"jitter_buffer_ms"`
	// MOSAudio is the E-model with the measured mouth-to-ear delay and the
	// callee's jitter and loss; lokicall's own MOS (from RTT/2) is in
	// Callee.Stats.
	MOSAudio float64 `json:"mos_audio"`

	Kill *Kill `json:"kill,omitempty"`
	// Dynamics holds a dynamics scenario's interruptions.
	Dynamics *DynamicsResult `json:"dynamics,omitempty"`
}

// callSpec is one call to make.
type callSpec struct {
	scenario string
	index    int
	params   Params
	duration time.Duration
	port     int
	tone     bool          // a 1 kHz tone instead of the click train
	killAt   time.Duration // kill a relay on the caller's path this long after active; 0: none
	dir      string        // host folder of the scenario (bind-mounted)
	cdir     string        // the same folder inside the containers
	caller   string        // caller's compose service
	callee   string        // callee's compose service
	addr     string        // the callee's .loki address
	dynamic  *Dynamic      // a dynamics scenario's call: its actions and analysis
}

const calleeReady = `"event":"listening"`

// callFiles names the files of one call on the host (and, through cdir,
// in the containers).
type callFiles struct{ dir, cdir, tag string }

func (f callFiles) host(s string) string      { return filepath.Join(f.dir, f.tag+"-"+s) }
func (f callFiles) container(s string) string { return f.cdir + "/" + f.tag + "-" + s }

// prepareSource writes the click train of a call to its source WAV.
func (r *Runner) prepareSource(res *CallResult, f callFiles, d time.Duration) bool {
	pcm, err := RenderClicks(r.Clicks, d+time.Second) // a second to spare: the call hangs up first
	if err == nil {
		err = writeWAV(f.host("source.wav"), pcm)
	}
	if err != nil {
		res.Error = err.Error()
		return false
	}
	res.Source = fmt.Sprintf("file: click train (%s clicks every %s)", r.Clicks.Length, r.Clicks.Period)
	return true
}

// runCall makes one call through the testnet and measures it.
func (r *Runner) runCall(ctx context.Context, cs callSpec) CallResult {
	res := CallResult{Scenario: cs.scenario, Index: cs.index, Params: cs.params, Duration: cs.duration.Seconds(), Start: time.Now()}
	f := callFiles{dir: cs.dir, cdir: cs.cdir, tag: fmt.Sprintf("call%02d", cs.index)}
	in := "tone:1000"
	if cs.tone {
		res.Source = in
	} else {
		if !r.prepareSource(&res, f, cs.duration) {
			return res
		}
		in = "file:" + f.container("source.wav")
	}
	calleeOut, calleeLog, err := create2(f.host("callee.jsonl"), f.host("callee.log"))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer calleeOut.Close()
	defer calleeLog.Close()
	cctx, cancel := context.WithTimeout(ctx, cs.duration+3*time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	var calleeErr error
	calleeDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(calleeDone)
		_, calleeErr = r.Testnet.Exec(cctx, cs.callee, true, calleeOut, calleeLog, "/lokicall", "listen",
			"--accept", "auto", "--calls", "1", "--port", fmt.Sprint(cs.port),
			"--in", "silence", "--out", "file:"+f.container("callee.wav"), "--playout-stamps", f.container("playout.csv"),
			"--json", "--log-level", "debug")
	}()
	if !WaitForLine(calleeDone, f.host("callee.jsonl"), []byte(calleeReady), 30*time.Second) {
		cancel()
		wg.Wait()
		res.Error = fmt.Sprintf("callee never listened: %v", calleeErr)
		return res
	}
	callerOut, callerLog, err := create2(f.host("caller.jsonl"), f.host("caller.log"))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer callerOut.Close()
	defer callerLog.Close()

	var kill *Kill
	var killWG sync.WaitGroup
	callerDone := make(chan struct{})
	var actions []Action
	if cs.dynamic != nil {
		actions = slices.Clone(cs.dynamic.Actions)
		for i := range actions {
			if actions[i].BeforeDial {
				r.act(cctx, &actions[i])
			}
		}
		killWG.Add(1)
		go func() {
			defer killWG.Done()
			r.actDuringCall(cctx, callerDone, f.host("caller.jsonl"), actions)
		}()
	}
	if cs.killAt > 0 {
		kill = &Kill{}
		killWG.Add(1)
		go func() {
			defer killWG.Done()
			r.killDuringCall(cctx, cs.caller, callerDone, f.host("caller.jsonl"), cs.killAt, kill)
		}()
	}
	_, callerErr := r.Testnet.Exec(cctx, cs.caller, true, callerOut, callerLog, "/lokicall", "call", fmt.Sprintf("%s:%d", cs.addr, cs.port),
		"--in", in, "--out", "null", "--capture-stamps", f.container("capture.csv"), "--duration", cs.duration.String(),
		"--json", "--log-level", "debug")
	close(callerDone)
	killWG.Wait()
	// The callee ends when the caller hangs up; give it time to notice.
	select {
	case <-calleeDone:
	case <-time.After(15 * time.Second):
		cancel()
	}
	wg.Wait()
	if kill != nil && kill.Relay != "" {
		if err := r.Testnet.Start(ctx, kill.Relay); err != nil {
			r.log().Warn("restarting killed relay", "relay", kill.Relay, "err", err)
		}
	}
	res.Caller = parseSide(f.host("caller.jsonl"))
	res.Callee = parseSide(f.host("callee.jsonl"))
	res.Caller.Node, res.Callee.Node = cs.caller, cs.callee
	res.Caller.Exit, res.Callee.Exit = exitstatus.Of(callerErr), exitstatus.Of(calleeErr)
	if kill != nil {
		kill.NodeOutageMS = r.lastOutage(context.Background(), cs.caller)
	}
	r.analyse(&res, f, !cs.tone, kill)
	if cs.dynamic != nil {
		res.Dynamics = r.analyseDynamics(ctx, &res, f, *cs.dynamic, actions, cs.caller, cs.callee)
	}
	return res
}

func create2(a, b string) (*os.File, *os.File, error) {
	fa, err := os.Create(a)
	if err != nil {
		return nil, nil, fmt.Errorf("runner: %w", err)
	}
	fb, err := os.Create(b)
	if err != nil {
		fa.Close()
		return nil, nil, fmt.Errorf("runner: %w", err)
	}
	return fa, fb, nil
}

// killDuringCall waits for the caller to go active, then killAt, and kills
// a relay of the caller's current path (the second, or the only one).
func (r *Runner) killDuringCall(ctx context.Context, node string, done <-chan struct{}, events string, killAt time.Duration, k *Kill) {
	if !WaitForLine(done, events, []byte(`"state":"active"`), time.Minute) {
		return
	}
	select {
	case <-done:
		return
	case <-time.After(killAt):
	}
	path, err := r.Testnet.Path(ctx, node)
	if err != nil {
		r.log().Warn("relay kill: no path", "err", err)
		return
	}
	victim := path[min(1, len(path)-1)]
	ip, _, _ := strings.Cut(victim, ":")
	svc, err := r.Testnet.ServiceByIP(ctx, ip)
	if err != nil {
		r.log().Warn("relay kill", "err", err)
		return
	}
	active := parseSide(events).States["active"]
	if err := r.Testnet.Kill(ctx, svc); err != nil {
		r.log().Warn("relay kill", "err", err)
		return
	}
	k.Relay, k.Address, k.AtS = svc, victim, time.Since(active).Seconds()
	r.log().Info("killed relay on the caller's path", "relay", svc, "addr", victim, "path", path)
}

// analyse fills in the measurements from the stamps, the recording and the
// sides' events. clicks: the source was the click train.
func (r *Runner) analyse(res *CallResult, f callFiles, clicks bool, kill *Kill) {
	c, e := res.Caller, res.Callee
	var errs []string
	if c.Exit != 0 || e.Exit != 0 {
		errs = append(errs, fmt.Sprintf("exit caller %d (%s) callee %d (%s)", c.Exit, sideOutcome(c), e.Exit, sideOutcome(e)))
	}
	res.T0 = c.States["active"]
	if c.Stats != nil {
		res.SetupS = c.Stats.SetupMS / 1000
	}
	res.ModelledOneWayMS = ms(res.Params.ModelledOneWay())
	rtts := liveRTTs(c.Live)
	if len(rtts) == 0 {
		rtts = liveRTTs(e.Live)
	}
	if len(rtts) > 0 {
		res.PathRTTMS = Summarize(rtts).P50
		res.NetworkOneWayMS = res.PathRTTMS / 2
		if res.SetupS > 0 {
			res.SetupRTTs = res.SetupS * 1000 / res.PathRTTMS
		}
	}
	var jb []float64
	for _, l := range e.Live {
		if l.FramesPlayed > 0 {
			jb = append(jb, l.JitterBufferMS)
		}
	}
	res.JitterBufferMS = Summarize(jb).Mean
	if kill != nil {
		kill.Recovered = c.Reason == "completed" && e.Reason == "completed"
		rec, err := readWAV(f.host("callee.wav"))
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			kill.Gaps = FindGaps(rec, 0.1, 40*time.Millisecond)
			for _, g := range kill.Gaps {
				kill.LongestGapMS = max(kill.LongestGapMS, ms(g.Length))
			}
		}
		res.Kill = kill
	}
	if clicks {
		a, err := measure.AnalyzeFiles(r.Clicks, f.host("capture.csv"), f.host("callee.wav"), f.host("playout.csv"))
		if err != nil {
			errs = append(errs, err.Error())
		}
		var m2e []float64
		for _, k := range a.Clicks {
			cl := Click{Index: k.Index, Score: k.Score, M2EMS: ms(k.Delay)}
			if !res.T0.IsZero() {
				cl.AtS = k.Captured.Sub(res.T0).Seconds()
			}
			res.Clicks = append(res.Clicks, cl)
			m2e = append(m2e, cl.M2EMS)
		}
		res.ClicksMissing = a.Missing
		res.M2E = Summarize(m2e)
	}
	if res.M2E.N > 0 {
		res.ExcessMS = res.M2E.P50 - res.ModelledOneWayMS
		if res.NetworkOneWayMS > 0 {
			res.OwnMS = res.M2E.P50 - res.NetworkOneWayMS
		}
		if e.Stats != nil {
			res.MOSAudio = call.EstimateMOS(msDuration(res.M2E.P50), msDuration(e.Stats.JitterMS), e.Stats.LossPercent)
		}
	}
	res.OK = len(errs) == 0
	res.Error = strings.Join(errs, "; ")
}

// sideOutcome says how a side ended: its reason and error, or that it
// never ended by itself (the runner stopped it).
func sideOutcome(s Side) string {
	out := s.Reason
	if s.Reason == "" && s.Exit == -1 {
		out = "did not end by itself: stopped by the runner"
	}
	if s.Error != "" {
		out += ": " + s.Error
	}
	return out
}

// setLoopback fills in the comparison with the loopback baseline.
func (c *CallResult) setLoopback(loopbackMS float64) {
	if loopbackMS <= 0 || c.M2E.N == 0 {
		return
	}
	c.LoopbackMS = loopbackMS
	c.VsLoopbackMS = c.ExcessMS - loopbackMS
	c.VsLoopbackRatio = c.ExcessMS / loopbackMS
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// msDuration is the inverse of ms.
func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
