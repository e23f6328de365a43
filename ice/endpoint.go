package ice

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"

	pionice "github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/lokinet"
)

// Config describes the local end of a call's media connection.
type Config struct {
	// Mode is the connectivity policy; "" means ModeOnion.
	Mode Mode
	// Node is this node as Lokinet shows it: its address, IP, interface and
	// range. The media socket is bound to Node.IP.
	Node lokinet.Node
	// Net is the network stack pion and the media socket use; nil means the
	// host's. Tests pass a virtual network.
	Net transport.Net
	// Timers overrides the mode's ICE and DTLS timers field by field.
	Timers Timers
	// Servers are the STUN and TURN servers of the p2p and relay modes.
	// Onion mode ignores them: it never contacts any server.
	Servers []Server
	// Logger receives the endpoint's and pion's logs; nil discards them.
	Logger *slog.Logger
}

// Endpoint is one call's media socket together with a pion API configured so
// that the socket is the only candidate it can gather. Create one per call and
// Close it when the call ends.
type Endpoint struct {
	api     *webrtc.API
	conn    net.PacketConn
	mux     *pionice.UDPMuxDefault
	node    lokinet.Node
	mode    Mode
	servers []webrtc.ICEServer
	log     *slog.Logger

	rtpStats atomic.Pointer[stats.Getter]
}

// NewEndpoint opens the media socket on the node's Lokinet address and builds
// the pion API around it. It fails when the node has no valid Lokinet address.
func NewEndpoint(cfg Config) (*Endpoint, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeOnion
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if !cfg.Node.IP.Is4() || !cfg.Node.Range.Contains(cfg.Node.IP) {
		return nil, fmt.Errorf("ice: node address %v is not an IPv4 address inside Lokinet range %v", cfg.Node.IP, cfg.Node.Range)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nw := cfg.Net
	if nw == nil {
		var err error
		if nw, err = stdnet.NewNet(); err != nil {
			return nil, fmt.Errorf("ice: host network: %w", err)
		}
	}
	if cfg.Mode.ExposesIP() {
		return newExposedEndpoint(cfg, nw, log)
	}
	laddr := &net.UDPAddr{IP: cfg.Node.IP.AsSlice(), Port: 0}
	conn, err := nw.ListenUDP("udp4", laddr)
	if err != nil {
		return nil, fmt.Errorf("ice: bind media socket to Lokinet address %v: %w", cfg.Node.IP, err)
	}
	mux := pionice.NewUDPMuxDefault(pionice.UDPMuxParams{
		Logger:  LoggerFactory(log).NewLogger("udpmux"),
		UDPConn: conn,
		Net:     nw,
	})
	e := &Endpoint{conn: conn, mux: mux, node: cfg.Node, mode: cfg.Mode, log: log}
	api, err := e.buildAPI(nw, cfg.Timers.withDefaults(cfg.Mode))
	if err != nil {
		_ = e.Close()
		return nil, err
	}
	e.api = api
	return e, nil
}

// buildAPI turns the onion policy into pion settings. Each setting closes one
// way an address other than the node's Lokinet IP could be gathered or used.
func (e *Endpoint) buildAPI(nw transport.Net, t Timers) (*webrtc.API, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = LoggerFactory(e.log)
	se.SetNet(nw)
	if e.mode.ExposesIP() {
		e.exposedSettings(&se)
	} else {
		e.onionSettings(&se)
	}
	se.SetICETimeouts(t.Disconnected, t.Failed, t.KeepAlive)
	se.SetICEMaxBindingRequests(t.MaxBindingRequests)
	se.SetDTLSRetransmissionInterval(t.DTLSRetransmit)
	// HelloVerify is an anti-spoofing cookie exchange; ICE has already proved
	// the peer reachable at its address, and skipping it saves one onion
	// round trip.
	se.SetDTLSInsecureSkipHelloVerify(true)
	// The call ends through signalling; a peer's DTLS close must not tear
	// the connection down before this side has read its statistics.
	se.DisableCloseByDTLS(true)
	return e.finishAPI(se)
}

// onionSettings allow exactly one candidate: the media socket on the
// Lokinet address. Each setting closes one way another address could be
// gathered or used.
func (e *Endpoint) onionSettings(se *webrtc.SettingEngine) {
	// The one socket bound to the Lokinet IP is the only host candidate.
	se.SetICEUDPMux(e.mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.DisableActiveTCP(true)
	// Left unset, mDNS is query-only and still opens multicast sockets.
	se.SetICEMulticastDNSMode(pionice.MulticastDNSModeDisabled)
	node := e.node
	se.SetInterfaceFilter(func(name string) bool { return name == node.Interface })
	se.SetIPFilter(func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		return ok && a.Unmap() == node.IP
	})
	// Remote candidates, peer-reflexive ones included, must be other Lokinet
	// nodes as this node sees them.
	se.SetRemoteIPFilter(func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		return ok && node.Contains(a.Unmap())
	})
	// Stand-in networks put the Lokinet range on loopback; pion drops
	// loopback candidates unless told otherwise.
	se.SetIncludeLoopbackCandidate(node.IP.IsLoopback())
}

func (e *Endpoint) finishAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	me, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	// Sender and receiver reports give RTT and loss; the stats interceptor
	// turns them into per-stream figures (StreamStats). NACK and TWCC are
	// left out: audio does not retransmit, and extra header extensions are
	// not wanted.
	// The stats interceptor goes first so that it sits outside the report
	// interceptor in the chain and sees the sender reports it writes:
	// without them it cannot match receiver reports and measure RTT.
	si, err := stats.NewInterceptor(stats.WithLoggerFactory(se.LoggerFactory))
	if err != nil {
		return nil, fmt.Errorf("ice: stats interceptor: %w", err)
	}
	si.OnNewPeerConnection(func(_ string, g stats.Getter) { e.rtpStats.Store(&g) })
	ir.Add(si)
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("ice: rtcp reports: %w", err)
	}
	return webrtc.NewAPI(
		webrtc.WithSettingEngine(se),
		webrtc.WithMediaEngine(me),
		webrtc.WithInterceptorRegistry(ir),
	), nil
}

// newExposedEndpoint builds an endpoint for the p2p and relay modes: pion
// gathers on every interface but Lokinet's, with the configured STUN and TURN
// servers. The user has consented to exposing the IP address.
func newExposedEndpoint(cfg Config, nw transport.Net, log *slog.Logger) (*Endpoint, error) {
	turn := false
	for _, s := range cfg.Servers {
		if _, err := ParseServer(s.URL, s.Username, s.Credential); err != nil {
			return nil, err
		}
		turn = turn || s.IsTURN()
	}
	if cfg.Mode == ModeRelay && !turn {
		return nil, fmt.Errorf("%w: relay mode needs a TURN server", ErrBadServer)
	}
	e := &Endpoint{node: cfg.Node, mode: cfg.Mode, servers: iceServers(cfg.Servers), log: log}
	api, err := e.buildAPI(nw, cfg.Timers.withDefaults(cfg.Mode))
	if err != nil {
		return nil, err
	}
	e.api = api
	return e, nil
}

// exposedSettings keep Lokinet out of the media path of the p2p and relay
// modes (its addresses mean nothing outside the node) and mDNS off.
func (e *Endpoint) exposedSettings(se *webrtc.SettingEngine) {
	node := e.node
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(pionice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name != node.Interface })
	outside := func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		return ok && !node.Range.Contains(a.Unmap())
	}
	se.SetIPFilter(outside)
	se.SetRemoteIPFilter(outside)
}

// OpusCodec is the only codec lokicall negotiates: Opus at 48 kHz, mono
// content in the standard two-channel RTP format, in-band FEC on, DTX off.
var OpusCodec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeOpus,
	ClockRate:   48000,
	Channels:    2,
	SDPFmtpLine: "minptime=10;useinbandfec=1;usedtx=0;stereo=0;sprop-stereo=0;cbr=1",
}

// opusPayloadType is the dynamic RTP payload type used for Opus.
const opusPayloadType = 111

func newMediaEngine() (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: OpusCodec,
		PayloadType:        opusPayloadType,
	}, webrtc.RTPCodecTypeAudio)
	if err != nil {
		return nil, fmt.Errorf("ice: register opus: %w", err)
	}
	return me, nil
}

// NewPeerConnection returns a peer connection bound by the endpoint's policy:
// no ICE servers, one bundled transport, RTCP multiplexed.
func (e *Endpoint) NewPeerConnection() (*webrtc.PeerConnection, error) {
	conf := webrtc.Configuration{
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	}
	if e.mode.ExposesIP() {
		conf.ICEServers = e.servers
	}
	if e.mode == ModeRelay {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := e.api.NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("ice: new peer connection: %w", err)
	}
	return pc, nil
}

// StreamStats returns the RTP statistics of one stream, local or remote, by
// SSRC: packets, loss, jitter and, for local streams, the round trip time
// from RTCP receiver reports.
func (e *Endpoint) StreamStats(ssrc uint32) (*stats.Stats, bool) {
	g := e.rtpStats.Load()
	if g == nil {
		return nil, false
	}
	st := (*g).Get(ssrc)
	return st, st != nil
}

// Mode returns the endpoint's connectivity policy.
func (e *Endpoint) Mode() Mode { return e.mode }

// LocalAddr returns the onion-mode media socket's address: the node's
// Lokinet IP and an ephemeral port. Other modes have no single socket and
// return the zero value.
func (e *Endpoint) LocalAddr() netip.AddrPort {
	if e.conn == nil {
		return netip.AddrPort{}
	}
	if ua, ok := e.conn.LocalAddr().(*net.UDPAddr); ok {
		return ua.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(e.conn.LocalAddr().String())
	return ap
}

// Close releases the media socket. Close every peer connection made by the
// endpoint first.
func (e *Endpoint) Close() error {
	var errs []error
	if e.mux != nil {
		errs = append(errs, e.mux.Close())
	}
	if e.conn != nil {
		if err := e.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ice: close endpoint: %w", err)
	}
	return nil
}
