package modes

import (
	"fmt"
	"strings"
)

// summary is the Markdown summary of a modes run.
func summary(rep *Report) string {
	var b strings.Builder
	verdict := "PASSED"
	if !rep.Passed {
		verdict = "FAILED"
	}
	pub := rep.Plan.Public
	fmt.Fprintf(&b, "# lokicall modes in the testnet: %s\n\n", verdict)
	fmt.Fprintf(&b, "%s, %s; calls of %s; public network %s with the STUN/TURN server at %s:%d (alice %s, bob %s); "+
		"lokicall runs as uid %d; its packets from or to the underlay %s are dropped and counted.\n\n",
		rep.Started.Format("2006-01-02 15:04:05"), rep.Finished.Sub(rep.Started).Round(1e9), rep.Plan.Duration,
		pub.Prefix, pub.TURN, pub.Port, pub.Alice, pub.Bob, rep.UID, pub.Underlay)
	b.WriteString("| scenario | result | caller mode / pair | callee mode / pair | exit caller / callee | TURN pkts from alice / bob | at bob: from alice / from TURN | uid outside lokitun0 alice / bob |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, sc := range rep.Scenarios {
		res := "pass"
		if !sc.Passed {
			res = "**FAIL**"
		}
		ta, _ := sc.TURN.from(pub.Alice)
		tb, _ := sc.TURN.from(pub.Bob)
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s %s | %d (%s) / %d (%s) | %d / %d | %d / %d | %d / %d |\n",
			sc.Name, res, orDash(sc.Caller.Mode), pair(sc.Caller), orDash(sc.Callee.Mode), pair(sc.Callee),
			sc.Caller.Exit, orDash(sc.Caller.Reason), sc.Callee.Exit, orDash(sc.Callee.Reason), ta, tb,
			sc.NFT["bob"].From[pub.Alice].Packets, sc.NFT["bob"].From[pub.TURN].Packets,
			sc.Leak["alice"].Leaked.Packets, sc.Leak["bob"].Leaked.Packets)
	}
	b.WriteString("\n")
	for _, sc := range rep.Scenarios {
		fmt.Fprintf(&b, "## %s\n\n%s.\n\n", sc.Name, sc.Description)
		if sc.Error != "" {
			fmt.Fprintf(&b, "Error: %s\n\n", sc.Error)
		}
		for _, c := range sc.Checks {
			mark := "pass"
			if !c.Passed {
				mark = "FAIL"
			}
			fmt.Fprintf(&b, "- %s — %s: %s\n", mark, c.Name, c.Detail)
		}
		b.WriteString("\n")
	}
	b.WriteString("Files: `modes.json` (everything), `<scenario>/scenario.json`, `<scenario>/{caller,callee}.{jsonl,log}` " +
		"(lokicall's --json events and debug log), `alice.toml`/`bob.toml` (the config files of LOKICALL_CONFIG).\n")
	return b.String()
}

func pair(s Side) string {
	if s.LocalCandidate == "" && s.RemoteCandidate == "" {
		return ""
	}
	return s.LocalCandidate + "→" + s.RemoteCandidate
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
