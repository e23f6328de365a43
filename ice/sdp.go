package ice

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pion/sdp/v3"
)

// maxSDPSize bounds a remote SDP; a one-track audio call needs a few KiB.
const maxSDPSize = 32 << 10

// CheckLocalSDP inspects an SDP about to leave the process. Candidates travel
// separately as .loki names, so the SDP must hold no candidate lines and no
// address other than the unspecified 0.0.0.0 placeholder; anything else would
// reveal an address and fails with ErrLeak.
func CheckLocalSDP(raw string) error {
	if err := checkAddresses(raw); err != nil {
		return fmt.Errorf("%w: outgoing SDP: %w", ErrLeak, err)
	}
	return nil
}

// CheckRemoteSDP inspects an SDP received from the peer before it is applied:
// it must parse, stay small, describe exactly one audio stream with ICE
// credentials and a DTLS fingerprint, and carry no candidates or addresses
// (candidates arrive separately and go through ImportCandidate).
func CheckRemoteSDP(raw string) error {
	if len(raw) > maxSDPSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrHostileSDP, len(raw), maxSDPSize)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return fmt.Errorf("%w: %w", ErrHostileSDP, err)
	}
	if len(sd.MediaDescriptions) != 1 {
		return fmt.Errorf("%w: %d media sections, want one audio section", ErrHostileSDP, len(sd.MediaDescriptions))
	}
	md := sd.MediaDescriptions[0]
	if md.MediaName.Media != "audio" {
		return fmt.Errorf("%w: media section is %q, want audio", ErrHostileSDP, md.MediaName.Media)
	}
	has := func(key string) bool {
		if _, ok := md.Attribute(key); ok {
			return true
		}
		_, ok := sd.Attribute(key)
		return ok
	}
	for _, key := range []string{"ice-ufrag", "ice-pwd", "fingerprint"} {
		if !has(key) {
			return fmt.Errorf("%w: no a=%s", ErrHostileSDP, key)
		}
	}
	if err := checkAddresses(raw); err != nil {
		return fmt.Errorf("%w: %w", ErrHostileSDP, err)
	}
	return nil
}

// checkAddresses rejects candidate lines and any IP literal other than the
// unspecified addresses anywhere in the SDP text.
func checkAddresses(raw string) error {
	for i, line := range strings.Split(raw, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "a=candidate") || strings.HasPrefix(line, "a=remote-candidates") {
			return fmt.Errorf("line %d carries a candidate", i+1)
		}
		if strings.HasPrefix(line, "a=fingerprint:") {
			continue // a hash in colon-separated hex, not an address
		}
		// Split on separators used by SDP syntax, keeping tokens that may
		// be addresses whole.
		for _, tok := range strings.FieldsFunc(line[min(2, len(line)):], func(r rune) bool {
			return r == ' ' || r == '/' || r == '=' || r == ';' || r == ','
		}) {
			a, err := netip.ParseAddr(strings.Trim(tok, "[]"))
			if err != nil {
				continue
			}
			if !a.IsUnspecified() {
				return fmt.Errorf("line %d carries address %v", i+1, a)
			}
		}
	}
	return nil
}
