package ice

import (
	"strings"
	"testing"
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
