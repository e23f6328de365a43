package runner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// soakFixture is a finished soak of a 10-minute call: a level RSS on the
// caller, a leaking one on the callee, goroutines with too few points.
func soakFixture() *SoakReport {
	plan := DefaultSoakPlan(10 * time.Minute)
	callS := plan.Duration.Seconds()
	var level, leak []Point
	for at := 10.0; at <= callS; at += 10 {
		level = append(level, Point{at, 30 + 0.1*float64(int(at)%3)})
		leak = append(leak, Point{at, 30 + at/60})
	}
	gor := []Point{{10, 40}, {20, 41}}
	series := []Series{
		{Name: "rss_mb", Side: "caller", Unit: "MB", Points: level, Flat: flatness(level, callS, nil, floorRSSMB)},
		{Name: "rss_mb", Side: "callee", Unit: "MB", Points: leak, Flat: flatness(leak, callS, nil, floorRSSMB)},
		{Name: "goroutines", Side: "callee", Points: gor, Flat: flatness(gor, callS, nil, floorGoroutines)},
	}
	run := &Report{Scenarios: []*Scenario{{Name: "soak", Calls: []CallResult{{OK: true}}}}, Leak: LeakProof{LokinetPackets: 500}}
	return &SoakReport{Plan: plan, Run: run, Series: series, Plots: []string{"soak_memory.png", "soak_cpu.png"}}
}

// TestSoakShortSummary: a measure run with a soak carries the soak's
// flatness table (start → end, slope, verdict per process and figure) and
// links to its plots in summary.md, run.json and soak-flatness.csv.
func TestSoakShortSummary(t *testing.T) {
	sr := soakFixture()
	s := soakShort(sr.Plan, "soak", sr, nil)
	if !s.OK || s.Error != "" || len(s.Series) != 3 {
		t.Fatalf("short form %+v", s)
	}
	if l := s.Series[1]; l.Flat || l.Start != 30+10.0/60 || l.End != 40 || l.SlopePerHour < 59 || l.SlopePerHour > 61 {
		t.Errorf("leaking line %+v, want not flat, 30.17 → 40, slope 60 MB/h", l)
	}
	rep := &Report{Dir: t.TempDir(), Plan: Plan{Name: "measure", Base: DefaultParams, Calls: 1, Duration: 5 * time.Second, Soak: sr.Plan.Duration},
		Clicks: DefaultClicks, Soak: s, Leak: LeakProof{LokinetPackets: 500, Passed: true}}
	if err := Write(rep); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(rep.Dir, "summary.md"))
	for _, want := range []string{
		"## Soak", "The call completed.", "[soak/summary.md](soak/summary.md)",
		"| caller | rss_mb | 60 | 30.1 → 30.0 MB | +0.07 | +0.01 (1.00) | yes |",
		"| callee | rss_mb | 60 | 30.2 → 40.0 MB | +60.00 | +5.00 (2.79) | **no** |",
		"| callee | goroutines | 2 | – | – | – | too few points |",
		"![soak_memory.png](soak/soak_memory.png)", "![soak_cpu.png](soak/soak_cpu.png)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	var back struct {
		Soak *SoakShort `json:"soak"`
	}
	b, _ := os.ReadFile(filepath.Join(rep.Dir, "run.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Soak == nil || len(back.Soak.Series) != 3 || back.Soak.Series[1].Flat ||
		back.Soak.Plots[0] != "soak/soak_memory.png" {
		t.Errorf("run.json soak %+v (%v)", back.Soak, err)
	}
	csv, _ := os.ReadFile(filepath.Join(rep.Dir, "soak-flatness.csv"))
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[2], "rss_mb,callee,MB,60,30.167,40.000,") ||
		!strings.Contains(lines[2], ",false,false") {
		t.Errorf("soak-flatness.csv:\n%s", csv)
	}
}

// TestSoakStepFailure: a soak whose testnet cannot come up is reported in
// the run's summary with its cause and does not fail the run, unless
// -strict; no soak, no section.
func TestSoakStepFailure(t *testing.T) {
	for _, strict := range []bool{false, true} {
		dir := t.TempDir()
		r := &Runner{Testnet: &Testnet{Compose: []string{"false"}}, Results: dir}
		ru := &running{Runner: r, plan: Plan{Name: "measure", Soak: time.Minute, Strict: strict}, runName: "run",
			rep: &Report{Dir: filepath.Join(dir, "run"), Plan: Plan{Name: "measure", Base: DefaultParams, Soak: time.Minute}, Clicks: DefaultClicks}}
		err := ru.soakStep(context.Background())
		if strict != (err != nil) || (err != nil && !errors.Is(err, ErrTestnet)) {
			t.Fatalf("strict %v: soakStep = %v", strict, err)
		}
		s := ru.rep.Soak
		if s == nil || s.OK || !strings.Contains(s.Error, "false up -d") {
			t.Fatalf("strict %v: short form %+v", strict, s)
		}
		if err := Write(ru.rep); err != nil {
			t.Fatal(err)
		}
		md, _ := os.ReadFile(filepath.Join(ru.rep.Dir, "summary.md"))
		if !strings.Contains(string(md), "**The soak failed**: runner: testnet: false up -d") {
			t.Errorf("summary lacks the soak's failure:\n%s", md)
		}
	}
	rep := &Report{Dir: t.TempDir(), Plan: Plan{Name: "measure", Base: DefaultParams}, Clicks: DefaultClicks}
	if err := Write(rep); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(rep.Dir, "summary.md"))
	if _, err := os.Stat(filepath.Join(rep.Dir, "soak-flatness.csv")); strings.Contains(string(md), "## Soak") || err == nil {
		t.Error("a run without a soak has a soak section or table")
	}
}
