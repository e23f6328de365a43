package runner

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestLoopbackCall makes one loopback-baseline call on the host with the
// lokicall binary named by TESTNET_LOKICALL (e.g. testnet/build/lokicall
// after make testnet-build) and checks that the stamps give a plausible
// mouth-to-ear delay for every click.
func TestLoopbackCall(t *testing.T) {
	exe := os.Getenv("TESTNET_LOKICALL")
	if exe == "" {
		t.Skip("set TESTNET_LOKICALL to a lokicall binary to make a loopback call")
	}
	r := &Runner{Lokicall: exe, Clicks: DefaultClicks}
	dir := t.TempDir()
	res := r.runLoopbackCall(context.Background(), callSpec{scenario: "loopback", params: Params{Concurrent: 1, Pairs: 1}, duration: 6 * time.Second, dir: dir})
	if !res.OK {
		t.Fatalf("loopback call failed: %s", res.Error)
	}
	t.Logf("m2e %+v, missing %d, RTT %.1f ms, jitter buffer %.1f ms, live events %d/%d", res.M2E, res.ClicksMissing, res.PathRTTMS,
		res.JitterBufferMS, len(res.Caller.Live), len(res.Callee.Live))
	for _, c := range res.Clicks {
		t.Logf("click %d at %.2f s: %.1f ms (score %.2f)", c.Index, c.AtS, c.M2EMS, c.Score)
	}
	if res.M2E.N < 4 || res.M2E.P50 < 20 || res.M2E.P50 > 200 {
		t.Errorf("m2e %+v: want at least 4 clicks between 20 and 200 ms", res.M2E)
	}
}
