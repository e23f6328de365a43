package modes

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPublicNetFor(t *testing.T) {
	p, err := PublicNetFor(netip.MustParsePrefix("10.91.0.0/24"), netip.MustParsePrefix("10.92.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if p.TURN != "10.92.0.2" || p.Alice != "10.92.0.101" || p.BobUnderlay != "10.91.0.102" || p.Prefix != "10.92.0.0/24" {
		t.Fatalf("got %+v", p)
	}
	if _, err := PublicNetFor(netip.MustParsePrefix("10.91.0.0/16"), netip.MustParsePrefix("10.92.0.0/24")); err == nil {
		t.Fatal("a /16 was accepted")
	}
}

// TestModesChecks: a relay scenario where bob heard alice directly fails;
// a fallback whose first public packet precedes the announcement fails.
func TestModesChecks(t *testing.T) {
	pub := DefaultPublicNet
	side := Side{Mode: "relay", LocalCandidate: "relay", RemoteCandidate: "relay", FramesPlayed: 250}
	sc := &Scenario{Caller: side, Callee: side, NFT: map[string]NFTCounts{
		"bob":   {From: map[string]NFTCount{pub.TURN: {Packets: 270}, pub.Alice: {Packets: 1}}},
		"alice": {From: map[string]NFTCount{pub.TURN: {Packets: 270}}},
	}}
	checkRelay(sc, pub)
	if failed := failedChecks(sc); len(failed) != 1 || failed[0] != "bob sees only the TURN server" {
		t.Fatalf("failed checks %v", failed)
	}

	t0 := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	side.Fallback, side.Exposure = t0, t0.Add(time.Millisecond)
	sc = &Scenario{Caller: side, Callee: side,
		TURN: TURNCounts{Server: map[string]*TURNSource{pub.Alice: {First: t0, Packets: 3}}},
		NFT:  map[string]NFTCounts{"alice": {DroppedUDPIface: &NFTCount{Packets: 9}}}}
	checkFallback(sc, pub)
	if failed := failedChecks(sc); len(failed) != 1 || !strings.HasPrefix(failed[0], "announced before") {
		t.Fatalf("failed checks %v", failed)
	}
	if !strings.Contains(summary(&Report{Plan: Plan{Public: pub}, Scenarios: []*Scenario{sc}}), "**FAIL**") {
		t.Fatal("summary does not show the failure")
	}
}

func failedChecks(sc *Scenario) []string {
	var out []string
	for _, c := range sc.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}
