package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSide(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "e.jsonl")
	lg := filepath.Join(dir, "e.log")
	os.WriteFile(ev, []byte(`{"time":"2026-11-25T19:26:40.220895304Z","event":"state","state":"active"}
{"time":"2026-11-25T19:26:45.4Z","event":"stats","stats":{"setup_ms":2061.1,"jitter_ms":5.4,"frames_concealed":3,"mos":4.3}}
{"time":"2026-11-25T19:26:45.5Z","event":"state","state":"ended","reason":"completed"}
`), 0o644)
	os.WriteFile(lg, []byte(`time=2026-11-25T19:26:40.220Z level=DEBUG msg="media: sender started" call=x frame=20ms
time=2026-11-25T19:26:40.521Z level=DEBUG msg="media: receiver playout started" call=x
`), 0o644)
	s := parseSide(ev, lg)
	if s.Reason != "completed" || s.Stats == nil || s.Stats.SetupMS != 2061.1 || s.Stats.FramesConcealed != 3 {
		t.Fatalf("side %+v", s)
	}
	if got := s.PlayoutStart.Sub(s.SenderStart); got != 301*time.Millisecond {
		t.Fatalf("playout − sender = %v, want 301ms", got)
	}
	if s.States["active"].IsZero() {
		t.Fatal("no active state")
	}
}

func TestWriteReport(t *testing.T) {
	call := func(sc string, hops int, m2e float64) CallResult {
		c := CallResult{Scenario: sc, Params: Params{Hops: hops, Delay: 15 * time.Millisecond}, OK: true, SetupS: 1.2, NetworkOneWayMS: 30 * float64(hops)}
		for i := range 5 {
			c.Chirps = append(c.Chirps, Chirp{Index: i, SourceAt: float64(i) + 0.5, Found: true, Score: 0.43, M2EMS: m2e + float64(i)})
		}
		c.M2E = Summarize([]float64{m2e, m2e + 4})
		c.Path = PathProbe{RTTms: []float64{250, 252, 249}, AtMS: []float64{0, 250, 500}}
		c.Callee.Stats = &LokicallStats{JitterMS: 5, MOS: 4.3}
		return c
	}
	rep := &Report{Dir: t.TempDir(), Plan: Plan{Name: "test", Base: DefaultParams, Calls: 1, Duration: 5 * time.Second}, Chirps: DefaultChirpTrain,
		Scenarios: []*Scenario{
			{Name: "base", Params: DefaultParams, Calls: []CallResult{call("base", 4, 190)}},
			{Name: "hops-1", Sweep: "hops", Params: Params{Hops: 1, Delay: 15 * time.Millisecond}, Calls: []CallResult{call("hops-1", 1, 100)}},
		},
		Leak: LeakProof{LokinetPackets: 100, Passed: true}}
	if err := Write(rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.json", "calls.csv", "summary.md", "m2e_cdf.png", "m2e_jitter_time.png", "m2e_vs_hops.png", "base/call00.json", "base/call00-chirps.csv"} {
		if _, err := os.Stat(filepath.Join(rep.Dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	md, _ := os.ReadFile(filepath.Join(rep.Dir, "summary.md"))
	if !strings.Contains(string(md), "| base | 4 |") || !strings.Contains(string(md), "PASSED") {
		t.Errorf("summary:\n%s", md)
	}
}
