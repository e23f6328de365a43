package ice

import (
	"strings"
	"testing"

	"github.com/pion/stun/v4"
)

func TestExposureNotice(t *testing.T) {
	stunHost, _ := ParseServer("stun:stun.example.org:3478", "", "")
	turnHost, _ := ParseServer("turns:turn.example.org:5349?transport=tcp", "u", "p")
	turnIP, _ := ParseServer("turn:192.0.2.7:3478", "u", "p")
	servers := []Server{stunHost, turnHost, turnIP}

	p2p := ExposureNotice(ModeP2P, servers)
	for _, want := range []string{ModeP2P.Exposure(), stunHost.URL, turnHost.URL, turnIP.URL,
		"system's DNS resolver, outside Lokinet: stun.example.org, turn.example.org"} {
		if !strings.Contains(p2p, want) {
			t.Errorf("p2p notice %q lacks %q", p2p, want)
		}
	}
	if strings.Contains(p2p, "192.0.2.7,") || strings.HasSuffix(p2p, "192.0.2.7") {
		t.Errorf("p2p notice %q names an IP literal as a DNS lookup", p2p)
	}

	relay := ExposureNotice(ModeRelay, servers)
	if strings.Contains(relay, "stun.example.org") {
		t.Errorf("relay notice %q names a STUN server relay mode never contacts", relay)
	}
	if !strings.Contains(relay, "resolver, outside Lokinet: turn.example.org") {
		t.Errorf("relay notice %q does not name the TURN host lookup", relay)
	}

	if got := ExposureNotice(ModeOnion, servers); got != ModeOnion.Exposure() {
		t.Errorf("onion notice %q names servers onion mode never contacts", got)
	}
}

// FuzzParseServer: a server setting from flags or the config file never
// panics the parser; an accepted one is a STUN server without credentials or
// a TURN server with them, and pion takes its URL.
func FuzzParseServer(f *testing.F) {
	f.Add("stun:stun.example.org:3478", "", "")
	f.Add("turn:turn.example.org?transport=tcp", "u", "p")
	f.Add("turns:[2001:db8::1]:5349", "u", "p")
	f.Add("turn:turn.example.org?transport=sctp", "u", "p")
	f.Fuzz(func(t *testing.T, url, user, cred string) {
		s, err := ParseServer(url, user, cred)
		if err != nil {
			return
		}
		if s.IsTURN() != (user != "" && cred != "") || (!s.IsTURN() && (user != "" || cred != "")) {
			t.Fatalf("%q accepted with username %q and credential %q", url, user, cred)
		}
		if _, err := stun.ParseURI(s.URL); err != nil {
			t.Fatalf("%q accepted but does not parse: %v", url, err)
		}
		_ = ExposureNotice(ModeP2P, []Server{s})
	})
}
