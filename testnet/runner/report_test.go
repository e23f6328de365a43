package runner

import (
	"github.com/lokicall/lokicall/call"

	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSide(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "e.jsonl")
	os.WriteFile(ev, []byte(`{"time":"2026-11-25T19:26:40.220895304Z","event":"state","state":"active"}
{"time":"2026-11-25T19:26:41.2Z","event":"live","live":{"rtt_ms":251.5,"jitter_ms":4.5,"jitter_buffer_ms":38,"jitter_target_ms":40,"frames_played":50}}
{"time":"2026-11-25T19:26:42.2Z","event":"live","live":{"rtt_ms":0,"jitter_ms":5,"frames_played":100}}
{"time":"2026-11-25T19:26:45.4Z","event":"stats","stats":{"setup_ms":2061.1,"jitter_ms":5.4,"frames_concealed":3,"mos":4.3}}
{"time":"2026-11-25T19:26:45.5Z","event":"state","state":"ended","reason":"completed"}
`), 0o644)
	s := parseSide(ev)
	if s.Reason != "completed" || s.Stats == nil || s.Stats.SetupMS != 2061.1 || s.Stats.FramesConcealed != 3 {
		t.Fatalf("side %+v", s)
	}
	if s.States["active"].IsZero() {
		t.Fatal("no active state")
	}
	if len(s.Live) != 2 || s.Live[0].JitterBufferMS != 38 || s.Live[1].Time.Sub(s.States["active"]) < 1900*time.Millisecond {
		t.Fatalf("live %+v", s.Live)
	}
	if r := liveRTTs(s.Live); len(r) != 1 || r[0] != 251.5 {
		t.Fatalf("RTTs %v", r)
	}
}

func TestWriteReport(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	call := func(sc string, p Params, m2e float64) CallResult {
		c := CallResult{Scenario: sc, Params: p, OK: true, SetupS: 1.2, T0: t0, ModelledOneWayMS: ms(p.ModelledOneWay()),
			NetworkOneWayMS: 31 * float64(p.Hops), PathRTTMS: 62 * float64(p.Hops)}
		for i := range 5 {
			c.Clicks = append(c.Clicks, Click{Index: i, AtS: float64(i) + 0.5, Score: 0.8, M2EMS: m2e + float64(i)})
		}
		c.M2E = Summarize([]float64{m2e, m2e + 4})
		c.ExcessMS = c.M2E.P50 - c.ModelledOneWayMS
		c.setLoopback(60)
		c.Callee.Stats = &LokicallStats{JitterMS: 5, MOS: 4.3}
		for i := range 5 {
			l := LiveSample{Time: t0.Add(time.Duration(i) * time.Second), LiveStats: call.LiveStats{RTTMS: 250, JitterMS: 5, JitterBufferMS: 40, FramesPlayed: uint64(50 * i)}}
			c.Callee.Live = append(c.Callee.Live, l)
			c.Caller.Live = append(c.Caller.Live, l)
		}
		return c
	}
	h1 := DefaultParams
	h1.Hops = 1
	p2 := DefaultParams
	p2.Pairs = 2
	rep := &Report{Dir: t.TempDir(), Plan: Plan{Name: "test", Base: DefaultParams, Calls: 1, Duration: 5 * time.Second}, Clicks: DefaultClicks,
		LoopbackMS: 60,
		Scenarios: []*Scenario{
			{Name: "base", Params: DefaultParams, Calls: []CallResult{call("base", DefaultParams, 190)}},
			{Name: "hops-1", Sweep: "hops", Params: h1, Calls: []CallResult{call("hops-1", h1, 100)}},
			{Name: "pairs-2", Sweep: "pairs", Params: p2, Calls: []CallResult{call("pairs-2", p2, 192), call("pairs-2", p2, 193)}},
		},
		Leak: LeakProof{LokinetPackets: 100, Passed: true}}
	if err := Write(rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "calls.csv", "summary.md", "m2e_cdf.png", "m2e_jitter_time.png", "loss_time.png", "m2e_vs_hops.png",
		"m2e_vs_pairs.png", "base/call00.json", "base/call00-clicks.csv", "base/call00-live.csv"} {
		if _, err := os.Stat(filepath.Join(rep.Dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	md, _ := os.ReadFile(filepath.Join(rep.Dir, "summary.md"))
	// base: m2e p50 192 (clicks 190..194), modelled 120, excess 72, +12 over the loopback's 60.
	for _, want := range []string{"| base | 4 |", "PASSED", "| 120.0 | 72.0 | 60.0 | +12.0 | 1.20 |", "Loopback baseline: 60.0 ms"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}
