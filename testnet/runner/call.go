package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Chirp is one chirp of a call's source and what became of it.
type Chirp struct {
	Index    int     `json:"index"`
	SourceAt float64 `json:"source_at_s"` // in the source, from its start
	Found    bool    `json:"found"`
	Score    float64 `json:"score"`
	// M2EMS is mouth-to-ear: when the chirp was played at the callee minus
	// when it was captured at the caller, on the host clock.
	M2EMS float64 `json:"m2e_ms,omitempty"`
}

// PathProbe is the UDP round trips measured by lokinet-emu udpping (as root,
// on the same Lokinet path) while the call ran.
type PathProbe struct {
	Sent     int       `json:"sent"`
	Received int       `json:"received"`
	RTTms    []float64 `json:"rtt_ms"`
	AtMS     []float64 `json:"at_ms"` // when each echoed probe was sent
	MinMS    float64   `json:"min_ms"`
	AvgMS    float64   `json:"avg_ms"`
	MaxMS    float64   `json:"max_ms"`
	MaxGapMS float64   `json:"max_gap_ms"`
	Lost     []int     `json:"lost,omitempty"`
	// JitterMS is the RFC 3550 jitter of the one-way delays (RTT/2), at
	// the end of the series.
	JitterMS float64 `json:"jitter_ms"`
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
	// NodeOutageMS is what alice's node logged for the path rebuild.
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
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Caller   Side      `json:"caller"`
	Callee   Side      `json:"callee"`

	// SetupS runs from dial to the first audio packet at the caller
	// (lokicall's setup_ms); SetupRTTs divides it by the path RTT measured
	// by udpping (lokicall's own setup_rtts uses its ICE RTT).
	SetupS    float64 `json:"setup_s"`
	SetupRTTs float64 `json:"setup_path_rtts"`

	Chirps      []Chirp `json:"chirps,omitempty"`
	ChirpsFound int     `json:"chirps_found"`
	M2E         Summary `json:"m2e_ms"`

	Path PathProbe `json:"path"`
	// ModelledOneWayMS is the configured delay (2 × hops × per-link delay);
	// NetworkOneWayMS half the measured path RTT; OwnMS mouth-to-ear minus
	// that: lokicall's own part (framing, coding, jitter buffer, playout)
	// plus the emulator's processing on the way.
	ModelledOneWayMS float64 `json:"modelled_one_way_ms"`
	NetworkOneWayMS  float64 `json:"network_one_way_ms"`
	OwnMS            float64 `json:"own_ms"`
	// MOSAudio is the E-model with the measured mouth-to-ear delay and the
	// callee's jitter and loss; lokicall's own MOS (from RTT/2) is in
	// Callee.Stats.
	MOSAudio float64 `json:"mos_audio"`

	Kill *Kill `json:"kill,omitempty"`
}

// callSpec is one call to make.
type callSpec struct {
	scenario string
	index    int
	params   Params
	duration time.Duration
	port     int
	tone     bool          // a 1 kHz tone instead of the chirp train
	killAt   time.Duration // kill a relay on alice's path this long after active; 0: none
	dir      string        // host folder of the scenario (bind-mounted)
	cdir     string        // the same folder inside the containers
	bob      string        // bob's .loki address
}

const calleeReady = `"event":"listening"`

// runCall makes one call alice → bob and measures it.
func (r *Runner) runCall(ctx context.Context, cs callSpec) CallResult {
	res := CallResult{Scenario: cs.scenario, Index: cs.index, Params: cs.params, Duration: cs.duration.Seconds(), Start: time.Now()}
	tag := fmt.Sprintf("call%02d", cs.index)
	file := func(s string) string { return filepath.Join(cs.dir, tag+"-"+s) }
	cfile := func(s string) string { return cs.cdir + "/" + tag + "-" + s }

	var pcm []int16
	var starts []int
	if cs.tone {
		res.Source = "tone:1000"
	} else {
		pcm, starts = r.Chirps.Render(cs.duration)
		res.Source = "chirps"
		if err := writeWAV(file("source.wav"), pcm); err != nil {
			res.Error = err.Error()
			return res
		}
	}
	calleeOut, calleeLog, err := create2(file("callee.jsonl"), file("callee.log"))
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
		_, calleeErr = r.Testnet.Exec(cctx, "bob", true, calleeOut, calleeLog, "/lokicall", "listen",
			"--accept", "auto", "--calls", "1", "--port", fmt.Sprint(cs.port),
			"--out", "file:"+cfile("callee.wav"), "--json", "--log-level", "debug")
	}()
	if !waitForLine(calleeDone, file("callee.jsonl"), []byte(calleeReady), 30*time.Second) {
		cancel()
		wg.Wait()
		res.Error = fmt.Sprintf("callee never listened: %v", calleeErr)
		return res
	}

	in := "tone:1000"
	if !cs.tone {
		in = "file:" + cfile("source.wav")
	}
	callerOut, callerLog, err := create2(file("caller.jsonl"), file("caller.log"))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer callerOut.Close()
	defer callerLog.Close()

	// The path probe runs alongside, as root (not counted as lokicall's).
	probeDone := make(chan PathProbe, 1)
	go func() {
		// One probe in flight at a time: about one per path RTT.
		out, _ := r.Testnet.Exec(cctx, "alice", false, nil, nil, "/lokinet-emu", "udpping", "-json",
			"-count", "100000", "-for", (cs.duration + 2*time.Second).String(), "-interval", "100ms", "-timeout", "2s", cs.bob+":9000")
		var p PathProbe
		_ = json.Unmarshal([]byte(out), &p)
		probeDone <- p
	}()

	var kill *Kill
	var killWG sync.WaitGroup
	callerDone := make(chan struct{})
	if cs.killAt > 0 {
		kill = &Kill{}
		killWG.Add(1)
		go func() {
			defer killWG.Done()
			r.killDuringCall(cctx, callerDone, file("caller.jsonl"), cs.killAt, kill)
		}()
	}
	_, callerErr := r.Testnet.Exec(cctx, "alice", true, callerOut, callerLog, "/lokicall", "call", fmt.Sprintf("%s:%d", cs.bob, cs.port),
		"--in", in, "--duration", cs.duration.String(), "--json", "--log-level", "debug")
	close(callerDone)
	killWG.Wait()
	// The callee ends when the caller hangs up; give it time to notice.
	select {
	case <-calleeDone:
	case <-time.After(15 * time.Second):
		cancel()
	}
	wg.Wait()
	res.Path = <-probeDone
	if kill != nil && kill.Relay != "" {
		if err := r.Testnet.Start(ctx, kill.Relay); err != nil {
			r.log().Warn("restarting killed relay", "relay", kill.Relay, "err", err)
		}
	}

	res.Caller = parseSide(file("caller.jsonl"), file("caller.log"))
	res.Callee = parseSide(file("callee.jsonl"), file("callee.log"))
	res.Caller.Exit, res.Callee.Exit = exitCode(callerErr), exitCode(calleeErr)
	r.analyse(&res, cs, file("callee.wav"), pcm, starts, kill)
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

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// killDuringCall waits for the caller to go active, then killAt, and kills
// a relay of alice's current path (the second, or the only one).
func (r *Runner) killDuringCall(ctx context.Context, done <-chan struct{}, events string, killAt time.Duration, k *Kill) {
	if !waitForLine(done, events, []byte(`"state":"active"`), time.Minute) {
		return
	}
	select {
	case <-done:
		return
	case <-time.After(killAt):
	}
	path, err := r.Testnet.Path(ctx, "alice")
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
	active := parseSide(events, "").States["active"]
	if err := r.Testnet.Kill(ctx, svc); err != nil {
		r.log().Warn("relay kill", "err", err)
		return
	}
	k.Relay, k.Address, k.AtS = svc, victim, time.Since(active).Seconds()
	r.log().Info("killed relay on alice's path", "relay", svc, "addr", victim, "path", path)
}

// analyse fills in the measurements from the recording and the sides.
func (r *Runner) analyse(res *CallResult, cs callSpec, recPath string, src []int16, starts []int, kill *Kill) {
	c, e := res.Caller, res.Callee
	var errs []string
	if c.Exit != 0 || e.Exit != 0 {
		errs = append(errs, fmt.Sprintf("exit caller %d (%s) callee %d (%s)", c.Exit, c.Reason, e.Exit, e.Reason))
	}
	if c.Stats != nil {
		res.SetupS = c.Stats.SetupMS / 1000
	}
	res.ModelledOneWayMS = ms(cs.params.ModelledOneWay())
	if len(res.Path.RTTms) > 0 {
		res.NetworkOneWayMS = Summarize(res.Path.RTTms).P50 / 2
		half := make([]float64, len(res.Path.RTTms))
		for i, v := range res.Path.RTTms {
			half[i] = v / 2
		}
		j := rfcJitter(half)
		res.Path.JitterMS = j[len(j)-1]
		if res.SetupS > 0 {
			res.SetupRTTs = res.SetupS * 1000 / (2 * res.NetworkOneWayMS)
		}
	}
	rec, err := readWAV(recPath)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if kill != nil {
		kill.Recovered = c.Reason == "completed" && e.Reason == "completed"
		if rec != nil {
			kill.Gaps = FindGaps(rec, 0.1, 40*time.Millisecond)
			for _, g := range kill.Gaps {
				kill.LongestGapMS = max(kill.LongestGapMS, ms(g.Length))
			}
		}
		kill.NodeOutageMS = r.lastOutage(context.Background())
		res.Kill = kill
	}
	if rec != nil && src != nil {
		senderStart := c.SenderStart
		if senderStart.IsZero() {
			senderStart = c.States["active"]
		}
		playout := e.PlayoutStart
		if senderStart.IsZero() || playout.IsZero() {
			errs = append(errs, "no sender or playout start time in the logs")
		} else {
			shift := int(playout.Sub(senderStart).Seconds()*SampleRate + 0.5)
			dets := Detect(rec, r.Chirps.Chirp(), starts, -shift, samples(r.Chirps.Period-r.Chirps.Length-50*time.Millisecond))
			var m2e []float64
			for _, d := range dets {
				ch := Chirp{Index: d.Index, SourceAt: d.SourceAt.Seconds(), Found: d.Found, Score: d.Score}
				if d.Found {
					ch.M2EMS = ms(playout.Add(d.Offset).Sub(senderStart.Add(d.SourceAt)))
					m2e = append(m2e, ch.M2EMS)
					res.ChirpsFound++
				}
				res.Chirps = append(res.Chirps, ch)
			}
			res.M2E = Summarize(m2e)
			if len(m2e) == 0 {
				errs = append(errs, ErrNoSignal.Error())
			}
		}
	}
	if res.M2E.N > 0 {
		res.OwnMS = res.M2E.P50 - res.NetworkOneWayMS
		if e.Stats != nil {
			res.MOSAudio = EModelMOS(res.M2E.P50, e.Stats.JitterMS, e.Stats.LossPercent)
		}
	}
	res.OK = len(errs) == 0
	res.Error = strings.Join(errs, "; ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
