package runner

import (
	"context"
	"errors"
	"testing"
)

// TestVerdict: a failed call is a result (the run passes) unless the plan
// is strict; a leak fails the run either way.
func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name   string
		strict bool
		failed int
		leaked uint64
		want   error
	}{
		{name: "failed call, not strict", failed: 1},
		{name: "failed call, strict", strict: true, failed: 1, want: ErrCallFailed},
		{name: "all calls ok, strict", strict: true},
		{name: "leak", leaked: 2, want: ErrLeak},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{Dir: t.TempDir(), Failed: tc.failed}
			rep.Leak.LokinetPackets, rep.Leak.Leaked = 100, tc.leaked
			ru := &running{Runner: &Runner{Testnet: &Testnet{}}, plan: Plan{Strict: tc.strict}, rep: rep}
			err := ru.finish(context.Background())
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("finish = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSideOutcome: a failed call's cause names how each side ended.
func TestSideOutcome(t *testing.T) {
	for _, tc := range []struct {
		s    Side
		want string
	}{
		{Side{Reason: "completed"}, "completed"},
		{Side{Exit: 8, Reason: "media-failed", Error: "no media for 60s"}, "media-failed: no media for 60s"},
		{Side{Exit: -1}, "did not end by itself: stopped by the runner"},
	} {
		if got := sideOutcome(tc.s); got != tc.want {
			t.Errorf("sideOutcome(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
