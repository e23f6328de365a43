package ice

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// ErrBadServer reports a STUN or TURN server setting that cannot be used.
var ErrBadServer = errors.New("ice: bad STUN/TURN server")

// Server is a STUN or TURN server for the p2p and relay modes. Onion mode
// never contacts one, even when servers are configured.
type Server struct {
	// URL is a stun:, stuns:, turn: or turns: URI (RFC 7064/7065), e.g.
	// "turn:turn.example.org:3478?transport=tcp".
	URL string
	// Username and Credential authenticate to a TURN server.
	Username, Credential string
}

// ParseServer validates a server setting.
func ParseServer(url, username, credential string) (Server, error) {
	u, err := parseURI(url)
	if err != nil {
		return Server{}, fmt.Errorf("%w: %q: %w", ErrBadServer, url, err)
	}
	switch u.Scheme {
	case stun.SchemeTypeTURN, stun.SchemeTypeTURNS:
		if username == "" || credential == "" {
			return Server{}, fmt.Errorf("%w: %q: a TURN server needs a username and a credential", ErrBadServer, url)
		}
	case stun.SchemeTypeSTUN, stun.SchemeTypeSTUNS:
		if username != "" || credential != "" {
			return Server{}, fmt.Errorf("%w: %q: a STUN server takes no username or credential", ErrBadServer, url)
		}
	default:
		return Server{}, fmt.Errorf("%w: %q: want a stun:, stuns:, turn: or turns: URI", ErrBadServer, url)
	}
	return Server{URL: url, Username: username, Credential: credential}, nil
}

// IsTURN reports whether s is a TURN server.
func (s Server) IsTURN() bool {
	u, err := parseURI(s.URL)
	return err == nil && isTURN(u)
}

// isTURN reports whether u names a TURN server.
func isTURN(u *stun.URI) bool {
	return u.Scheme == stun.SchemeTypeTURN || u.Scheme == stun.SchemeTypeTURNS
}

// parseURI is stun.ParseURI guarded against the inputs it recurses on until
// the stack overflows (pion/stun v4.0.1): it adds the default port to a URI
// without one and parses again, forever when the host part still has no port
// after that, as in "turn:[::1]x".
func parseURI(raw string) (*stun.URI, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(u.Opaque); err != nil {
		if _, _, err := net.SplitHostPort(u.Opaque + ":3478"); err != nil {
			return nil, fmt.Errorf("host and port %q: %w", u.Opaque, err)
		}
	}
	return stun.ParseURI(raw)
}

func iceServers(servers []Server) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		is := webrtc.ICEServer{URLs: []string{s.URL}}
		if s.Username != "" {
			is.Username = s.Username
			is.Credential = s.Credential
		}
		out = append(out, is)
	}
	return out
}
