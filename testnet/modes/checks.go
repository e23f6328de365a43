package modes

import (
	"fmt"
	"slices"
	"time"
)

func (sc *Scenario) check(name string, ok bool, format string, args ...any) {
	sc.Checks = append(sc.Checks, Check{Name: name, Passed: ok, Detail: fmt.Sprintf(format, args...)})
}

// checkCompleted: both sides exited 0, heard audio, and the caller's stats
// name the mode.
func checkCompleted(sc *Scenario, mode string) {
	c, e := sc.Caller, sc.Callee
	sc.check("call completed", c.Exit == 0 && e.Exit == 0 && c.FramesPlayed > 0 && e.FramesPlayed > 0,
		"exit caller %d (%s) callee %d (%s); frames played caller %d callee %d", c.Exit, c.Reason, e.Exit, e.Reason, c.FramesPlayed, e.FramesPlayed)
	sc.check("mode "+mode, c.Mode == mode && e.Mode == mode, "stats mode: caller %q, callee %q", c.Mode, e.Mode)
}

// checkNothingPublic: a node (in onion mode) sent nothing outside Lokinet.
func checkNothingPublic(sc *Scenario, pub PublicNet, node, ip string) {
	n, _ := sc.TURN.from(ip)
	l, nft := sc.Leak[node], sc.NFT[node]
	sc.check(node+": no public packet", n == 0 && l.Leaked.Packets == 0 && nft.To[pub.Prefix].Packets == 0 && l.Lokinet.Packets > 0,
		"turn server saw %d packets from %s; uid %d: %d packets outside lokitun0 and the resolver, %d to %s, %d into lokitun0",
		n, ip, l.UID, l.Leaked.Packets, nft.To[pub.Prefix].Packets, pub.Prefix, l.Lokinet.Packets)
}

// checkSources: the turn server heard from nobody but alice, bob and its
// own relay ports.
func checkSources(sc *Scenario, pub PublicNet) {
	var other []string
	for _, m := range []map[string]*TURNSource{sc.TURN.Server, sc.TURN.Relay} {
		for ip, s := range m {
			if ip != pub.Alice && ip != pub.Bob && ip != pub.TURN {
				other = append(other, fmt.Sprintf("%s (%d)", ip, s.Packets))
			}
		}
	}
	sc.check("turn server: no other source", len(other) == 0, "other sources: %v", other)
}

func checkOnion(sc *Scenario, pub PublicNet) {
	checkCompleted(sc, "onion")
	sc.check("turn server untouched", sc.TURN.total() == 0, "turn server received %d packets in all", sc.TURN.total())
	checkNothingPublic(sc, pub, "alice", pub.Alice)
	checkNothingPublic(sc, pub, "bob", pub.Bob)
}

func direct(t string) bool { return t == "host" || t == "srflx" }

func checkP2P(sc *Scenario, pub PublicNet) {
	checkCompleted(sc, "p2p")
	c, e := sc.Caller, sc.Callee
	sc.check("pair host or srflx", direct(c.LocalCandidate) && direct(c.RemoteCandidate) && direct(e.LocalCandidate) && direct(e.RemoteCandidate),
		"caller %s → %s, callee %s → %s", c.LocalCandidate, c.RemoteCandidate, e.LocalCandidate, e.RemoteCandidate)
	a, b := sc.NFT["alice"].From[pub.Bob].Packets, sc.NFT["bob"].From[pub.Alice].Packets
	sc.check("media over the public network", a > 0 && b > 0,
		"bob received %d packets from %s, alice %d from %s (lokicall's packets from/to the underlay dropped: alice %d, bob %d)",
		b, pub.Alice, a, pub.Bob, dropped(sc.NFT["alice"].DroppedNet), dropped(sc.NFT["bob"].DroppedNet))
}

func checkRelay(sc *Scenario, pub PublicNet) {
	checkCompleted(sc, "relay")
	c, e := sc.Caller, sc.Callee
	sc.check("pair relay-to-relay", c.LocalCandidate == "relay" && c.RemoteCandidate == "relay" && e.LocalCandidate == "relay" && e.RemoteCandidate == "relay",
		"caller %s → %s, callee %s → %s", c.LocalCandidate, c.RemoteCandidate, e.LocalCandidate, e.RemoteCandidate)
	bn, an := sc.NFT["bob"], sc.NFT["alice"]
	sc.check("bob sees only the TURN server", bn.From[pub.Alice].Packets == 0 && bn.From[pub.AliceUnderlay].Packets == 0 && bn.From[pub.TURN].Packets > 0,
		"packets at bob from alice %s: %d, from alice %s: %d, from the TURN server %s: %d",
		pub.Alice, bn.From[pub.Alice].Packets, pub.AliceUnderlay, bn.From[pub.AliceUnderlay].Packets, pub.TURN, bn.From[pub.TURN].Packets)
	sc.check("alice sees only the TURN server", an.From[pub.Bob].Packets == 0 && an.From[pub.BobUnderlay].Packets == 0 && an.From[pub.TURN].Packets > 0,
		"packets at alice from bob %s: %d, from bob %s: %d, from the TURN server: %d",
		pub.Bob, an.From[pub.Bob].Packets, pub.BobUnderlay, an.From[pub.BobUnderlay].Packets, an.From[pub.TURN].Packets)
}

func checkFallback(sc *Scenario, pub PublicNet) {
	c := sc.Caller
	sc.check("call completed", c.Exit == 0 && sc.Callee.Exit == 0 && c.FramesPlayed > 0 && sc.Callee.FramesPlayed > 0,
		"exit caller %d (%s) callee %d (%s); frames played caller %d callee %d", c.Exit, c.Reason, sc.Callee.Exit, sc.Callee.Reason, c.FramesPlayed, sc.Callee.FramesPlayed)
	sc.check("carried by relay", c.Mode == "relay" && c.LocalCandidate == "relay", "caller stats mode %q, pair %s → %s; callee mode %q",
		c.Mode, c.LocalCandidate, c.RemoteCandidate, sc.Callee.Mode)
	d := sc.NFT["alice"].DroppedUDPIface
	sc.check("onion media path dead", d != nil && d.Packets > 0, "lokicall's UDP dropped on alice's lokitun0: %d packets", dropped(d))
	n, first := sc.TURN.from(pub.Alice)
	ok := !c.Fallback.IsZero() && !c.Exposure.IsZero() && n > 0 && !c.Fallback.After(c.Exposure) && c.Exposure.Before(first)
	if ok {
		sc.AnnouncementLeadMS = float64(first.Sub(c.Exposure)) / float64(time.Millisecond)
	}
	sc.check("announced before the first public packet", ok,
		"fallback event %s, ip-exposure event %s, turn server's first packet from %s %s (%d packets): lead %.1f ms",
		stamp(c.Fallback), stamp(c.Exposure), pub.Alice, stamp(first), n, float64(first.Sub(c.Exposure))/float64(time.Millisecond))
}

func checkNoFallback(sc *Scenario, pub PublicNet) {
	c := sc.Caller
	sc.check("ends with media failed", c.Exit == 8 && c.Reason != "", "caller exit %d, reason %q, error %q", c.Exit, c.Reason, c.Error)
	sc.check("no announcement", c.Exposure.IsZero() && c.Fallback.IsZero() && !slices.Contains([]string{"p2p", "relay"}, c.Mode),
		"ip-exposure %s, fallback %s, mode %q", stamp(c.Exposure), stamp(c.Fallback), c.Mode)
	checkNothingPublic(sc, pub, "alice", pub.Alice)
	checkNothingPublic(sc, pub, "bob", pub.Bob)
}

func dropped(c *NFTCount) uint64 {
	if c == nil {
		return 0
	}
	return c.Packets
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Format("15:04:05.000000")
}
