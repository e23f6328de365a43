package runner

import (
	"slices"
	"testing"
)

// TestParseDynamics: every scenario by name, an unknown one refused, and
// the knobs each sets reach compose's environment (a trace zeroes the
// relays' own delay and jitter).
func TestParseDynamics(t *testing.T) {
	all, err := ParseDynamics("all", DefaultParams)
	if err != nil || len(all) != len(DynamicNames) {
		t.Fatalf("all: %d scenarios, %v", len(all), err)
	}
	if _, err := ParseDynamics("stall,bogus", DefaultParams); err == nil {
		t.Fatal("an unknown scenario was accepted")
	}
	if none, err := ParseDynamics("none", DefaultParams); err != nil || len(none) != 0 {
		t.Fatalf("none: %v, %v", none, err)
	}
	byName := map[string]Dynamic{}
	for _, d := range all {
		byName[d.Name] = d
		if d.Duration <= 0 || d.What == "" {
			t.Errorf("%s: no duration or description", d.Name)
		}
		for _, a := range d.Actions {
			if !a.BeforeDial && a.At+a.Length >= d.Duration {
				t.Errorf("%s: %s ends after the call", d.Name, a)
			}
		}
	}
	if env := byName["stall"].Params.Env(); !slices.Contains(env, "SESSION_SWAP=force") {
		t.Errorf("stall env %v", env)
	}
	env := byName["trace"].Params.Env()
	for _, want := range []string{"TRACE=" + TraceA, "RELAY_DELAY=0s", "RELAY_JITTER=0s", "SESSION_SWAP=off"} {
		if !slices.Contains(env, want) {
			t.Errorf("trace env %v lacks %s", env, want)
		}
	}
	if byName["trace"].Params.ModelledOneWay() != 0 {
		t.Error("a trace's delay was modelled from the relays' delay")
	}
	if env := DefaultParams.Env(); !slices.Contains(env, "SESSION_SWAP=off") || !slices.Contains(env, "TRACE=") {
		t.Errorf("default env %v: the steady path needs the dynamics off", env)
	}
}
