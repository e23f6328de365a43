package signalling

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lokicall/lokicall/lokinet"
)

// Version is the protocol version this package speaks. Decode rejects any
// other version with ErrVersion.
const Version = 1

// MaxMessageSize is the largest framed payload, in bytes.
const MaxMessageSize = 64 << 10

// MaxSDPSize is the largest SDP body an offer or answer may carry, in bytes.
const MaxSDPSize = 32 << 10

// MaxReasonLen is the longest Reason, in bytes.
const MaxReasonLen = 200

// maxFoundationLen is the longest ICE foundation (RFC 8445: 1*32 ice-char).
const maxFoundationLen = 32

// callIDLen is the length of a call ID: 128 bits in lower-case hex.
const callIDLen = 32

// Type is the kind of a Message.
type Type string

// The message types. Offer and answer carry SDP without candidates;
// candidates travel one per TypeCandidate message.
const (
	TypeOffer           Type = "offer"
	TypeAnswer          Type = "answer"
	TypeCandidate       Type = "candidate"
	TypeEndOfCandidates Type = "end-of-candidates"
	TypeRinging         Type = "ringing"
	TypeAccept          Type = "accept"
	TypeBusy            Type = "busy"
	TypeReject          Type = "reject"
	TypeHangup          Type = "hangup"
	// TypeRestart moves an accepted call's media to another mode: it
	// carries a new offer and the mode (p2p or relay), sent only by a caller
	// whose user consented to that fallback.
	TypeRestart Type = "restart"
	// TypeICERestart asks to rebuild the media path of an accepted call in
	// the same mode: it carries the offer of a new media path (new ICE
	// credentials and DTLS fingerprint), which both sides build beside the
	// current one and switch to once it connects.
	// Only the caller sends it, only after accept, as often as needed; the
	// callee answers with TypeAnswer, then candidates flow again.
	TypeICERestart Type = "ice-restart"
	// TypeRestartRefused answers a restart or ice-restart that may not be
	// followed (another call's ID, before accept, from the callee, a
	// negotiation already under way) without ending the call. Reason says
	// why.
	TypeRestartRefused Type = "restart-refused"
	// TypeRestartRequest asks the caller, from the callee of an accepted
	// call that hears nothing while the caller may hear it (a path broken
	// in one direction), to restart the media path; the caller answers with
	// ice-restart when its backoff allows.
	TypeRestartRequest Type = "restart-request"
	// TypeProbe asks a listener whether it is reachable, without ringing:
	// it is the first message on its connection (in place of an offer),
	// and more may follow on the same connection, one at a time. CallID
	// names the probe. A listener answers with TypeProbeReply only to
	// callers its accept policy would let ring; anyone else gets the
	// reject a call of theirs would get.
	TypeProbe Type = "probe"
	// TypeProbeReply answers a TypeProbe with the probe's CallID.
	TypeProbeReply Type = "probe-reply"
	// TypeResume is the first message of a new signalling connection that
	// carries on an accepted call whose connection broke: sent by the
	// caller, with the call's ID and its own address as From. The callee's
	// server hands the connection to the live call only if the connection's
	// source names that same caller; otherwise it refuses with reject and a
	// reason (ReasonNoSuchCall, ReasonNotResumable, ReasonCallerIDMismatch,
	// ReasonUnknownCaller), or with the hangup the call ended with while
	// the connection was down.
	TypeResume Type = "resume"
	// TypeResumed is the callee's reply to a resume it follows: the call
	// goes on over the new connection.
	TypeResumed Type = "resumed"
)

// Known reports whether t is one of the message types.
func (t Type) Known() bool {
	switch t {
	case TypeOffer, TypeAnswer, TypeCandidate, TypeEndOfCandidates, TypeRinging,
		TypeAccept, TypeBusy, TypeReject, TypeHangup, TypeRestart, TypeICERestart, TypeRestartRefused, TypeRestartRequest,
		TypeProbe, TypeProbeReply, TypeResume, TypeResumed:
		return true
	}
	return false
}

// Reasons carried by busy, reject and hangup messages and by a call's end
// event: the one list of the reasons lokicall itself uses. Peers may send
// other printable ASCII reasons.
const (
	// ReasonDeclined: the callee (or its policy) declined.
	ReasonDeclined = "declined"
	// ReasonTimeout: nobody answered while it rang.
	ReasonTimeout = "timeout"
	// ReasonCompleted: a call that carried audio ended normally.
	ReasonCompleted = "completed"
	// ReasonError: a local failure not named below.
	ReasonError = "error"
	// ReasonUnknownCaller: the caller's address could not be learnt.
	ReasonUnknownCaller = "unknown-caller"
	// ReasonCallerIDMismatch: the offer's From is not the caller's address.
	ReasonCallerIDMismatch = "caller-id-mismatch"
	// ReasonNotContact: declined because the caller is not a contact.
	ReasonNotContact = "not-a-contact"
	// ReasonBusy: the callee is in another call.
	ReasonBusy = "busy"
	// ReasonCancelled: the caller gave up before audio started.
	ReasonCancelled = "cancelled"
	// ReasonConnectionLost: the signalling connection broke.
	ReasonConnectionLost = "connection-lost"
	// ReasonProtocolError: the peer broke the call protocol.
	ReasonProtocolError = "protocol-error"
	// ReasonPolicy: the privacy policy refused something of the peer's.
	ReasonPolicy = "policy"
	// ReasonModeRefused: the caller asked for a mode the callee has not
	// consented to.
	ReasonModeRefused = "mode-refused"
	// ReasonBadOffer: the caller's offer could not be used.
	ReasonBadOffer = "bad-offer"
	// ReasonMediaFailed: the media path could not be built.
	ReasonMediaFailed = "media-failed"
	// ReasonMediaLost: an established media path broke and did not come
	// back within the call's media timeout.
	ReasonMediaLost = "media-lost"
	// ReasonLokinetRestarted: the Lokinet daemon restarted and the call
	// could not be carried over within the media timeout.
	ReasonLokinetRestarted = "lokinet-restarted"
	// ReasonAudioFailed: the audio source, sink or pipeline failed.
	ReasonAudioFailed = "audio-failed"
	// ReasonFallbackRefused: the callee refused to follow a fallback.
	ReasonFallbackRefused = "fallback-refused"
	// ReasonOnionMediaFailed: the onion media path failed and the call
	// falls back (a fallback state's reason, not an end).
	ReasonOnionMediaFailed = "onion-media-failed"
	// ReasonCallerFallback: the callee follows the caller's fallback (a
	// fallback state's reason, not an end).
	ReasonCallerFallback = "caller-fallback"
	// ReasonWrongCall: a restart-refused for a restart of another call.
	ReasonWrongCall = "wrong-call"
	// ReasonNotNow: a restart-refused for a restart the call's state does
	// not allow (before accept, from the callee, during another one).
	ReasonNotNow = "not-now"
	// ReasonRestartFailed: a restart-refused for a restart this side could
	// not follow (an offer it could not apply).
	ReasonRestartFailed = "restart-failed"
	// ReasonNoSuchCall: a resume for a call the callee does not have with
	// that caller (another call ID, another caller, a call long over).
	ReasonNoSuchCall = "no-such-call"
	// ReasonNotResumable: a resume for a call not yet accepted, or one
	// ending.
	ReasonNotResumable = "not-resumable"
)

// IsRestart reports whether t asks to rebuild the media path (restart,
// ice-restart or restart-request): a bad one is refused with
// TypeRestartRefused, not ended with.
func (t Type) IsRestart() bool {
	return t == TypeRestart || t == TypeICERestart || t == TypeRestartRequest
}

// Message is one signalling message. Which optional fields a type requires
// or forbids is checked by Encode and Decode.
type Message struct {
	// Version is the protocol version; it must equal Version.
	Version int `json:"v"`
	// Type is the kind of message.
	Type Type `json:"type"`
	// CallID names the call: 32 lower-case hex characters (see NewCallID).
	CallID string `json:"call_id"`
	// From is, on an offer (optionally) and a resume (required), the
	// caller's claimed .loki address in canonical form. The listener checks
	// it against the address it learns from the connection itself and
	// never trusts it alone.
	From string `json:"from,omitempty"`
	// SDP is the session description of an offer or answer (required there,
	// forbidden elsewhere). It must contain no a=candidate lines.
	SDP string `json:"sdp,omitempty"`
	// Candidate is the ICE candidate of a candidate message (required there,
	// forbidden elsewhere).
	Candidate *Candidate `json:"candidate,omitempty"`
	// Reason is an optional short machine-readable reason on busy, reject
	// and hangup, such as ReasonDeclined: printable ASCII, at most
	// MaxReasonLen bytes.
	Reason string `json:"reason,omitempty"`
	// Mode is, on an offer or answer only, the connectivity mode the sender
	// uses for media: "" or "onion" (the default, candidates named by .loki
	// address), "p2p" or "relay" (candidates carry IP addresses, which
	// exposes them). A callee that has not opted in to exposing its IP
	// refuses the non-onion modes.
	Mode string `json:"mode,omitempty"`
	// Ptime is, on an offer, answer or restart only and optionally, the
	// sender's audio frame duration in milliseconds (10, 20, 40 or 60), so
	// that the receiver paces its playout to the sender's packets.
	Ptime int `json:"ptime,omitempty"`
}

// Modes a Message may name.
const (
	ModeOnion = "onion"
	ModeP2P   = "p2p"
	ModeRelay = "relay"
)

// Candidate is an ICE candidate. In onion mode it names the sender by its
// .loki address instead of an IP: raw Lokinet IPs are local to each node and
// must never be sent, so the receiver resolves Name to its own view of the
// sender's IP. In the p2p and relay modes, which the user has opted in to,
// it carries an IP Address instead. Exactly one of Name and Address is set.
type Candidate struct {
	// Foundation is the ICE foundation: 1 to 32 characters of [A-Za-z0-9+/].
	Foundation string `json:"foundation"`
	// Component is the ICE component; only 1 (RTP, with RTCP multiplexed).
	Component uint16 `json:"component"`
	// Protocol is the transport: "udp"; "tcp" also for address candidates.
	Protocol string `json:"protocol"`
	// Priority is the ICE priority, 1 to 2^31-1.
	Priority uint32 `json:"priority"`
	// Name is the sender's .loki address in canonical form (onion mode).
	Name string `json:"name,omitempty"`
	// Address is the candidate's IP address (p2p and relay modes only).
	Address string `json:"address,omitempty"`
	// Port is the UDP port, not 0.
	Port uint16 `json:"port"`
	// Type is the candidate type: "host" for named candidates; "host",
	// "srflx", "relay" or "prflx" for address candidates.
	Type string `json:"type"`
}

// NewCallID returns a fresh call ID: 128 random bits in lower-case hex.
func NewCallID() string {
	var b [callIDLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	return hex.EncodeToString(b[:])
}

// Encode validates m by the same rules as Decode and returns its JSON
// payload, without a frame header. A message that would not fit in a frame
// is refused with ErrFrameTooLarge.
func Encode(m Message) ([]byte, error) {
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("signalling: encode %s: %w", m.Type, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep SDP compact: '<', '>' and '&' stay as they are
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("signalling: encode %s: %w", m.Type, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("signalling: encode %s: %w: %d bytes, limit %d",
			m.Type, ErrFrameTooLarge, len(b), MaxMessageSize)
	}
	return b, nil
}

// Decode parses a JSON payload strictly: it must be valid UTF-8, one JSON
// object and nothing after it, with exactly the field names of Message
// (case-sensitive, no duplicates, no nulls), version Version, a known type,
// a well-formed call ID and the fields that type requires and no others.
// Errors wrap ErrVersion for a version mismatch and ErrMalformed otherwise,
// and name the offending field.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return Message{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxMessageSize)
	}
	if !utf8.Valid(b) {
		return Message{}, fmt.Errorf("%w: not valid UTF-8", ErrMalformed)
	}
	// A newer peer may add fields; report its version rather than the first
	// field this version does not know.
	var ver struct {
		V json.RawMessage `json:"v"`
	}
	if json.Unmarshal(b, &ver) == nil {
		if v, err := strconv.ParseInt(string(ver.V), 10, 64); err == nil && v != Version {
			return Message{}, fmt.Errorf("%w: v is %d, want %d", ErrVersion, v, Version)
		}
	}
	present, err := checkStructure(b)
	if err != nil {
		return Message{}, err
	}
	for _, k := range []string{"v", "type", "call_id"} {
		if !present[k] {
			return Message{}, fmt.Errorf("%w: %s: missing", ErrMalformed, k)
		}
	}
	var m Message
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Message{}, fmt.Errorf("%w: %s: %s does not fit %s", ErrMalformed, te.Field, te.Value, te.Type)
		}
		return Message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := validate(m); err != nil {
		return Message{}, err
	}
	return m, nil
}

// kind is the JSON kind a field must have.
type kind int

const (
	kindString kind = iota
	kindNumber
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	default:
		return "object"
	}
}

var (
	messageFields = map[string]kind{
		"v": kindNumber, "type": kindString, "call_id": kindString, "from": kindString,
		"sdp": kindString, "candidate": kindObject, "reason": kindString, "mode": kindString, "ptime": kindNumber,
	}
	candidateFields = map[string]kind{
		"foundation": kindString, "component": kindNumber, "protocol": kindString,
		"priority": kindNumber, "name": kindString, "address": kindString, "port": kindNumber, "type": kindString,
	}
)

// checkStructure walks b's tokens and rejects what encoding/json would let
// through silently: field names in another case, duplicate keys, nulls,
// values of the wrong JSON kind and anything after the object. It returns
// the top-level keys present.
func checkStructure(b []byte) (map[string]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	present, err := checkObject(dec, messageFields, "")
	if err != nil {
		return nil, err
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%w: after the object: %w", ErrMalformed, err)
		}
		return nil, fmt.Errorf("%w: trailing data after the object (%v)", ErrMalformed, tok)
	}
	return present, nil
}

func checkObject(dec *json.Decoder, fields map[string]kind, prefix string) (_ map[string]bool, err error) {
	where := strings.TrimSuffix(prefix, ".")
	if where == "" {
		where = "message"
	}
	defer func() {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: %s: %w", ErrMalformed, where, io.ErrUnexpectedEOF)
		}
	}()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: %s: want object, got %s", ErrMalformed, where, describe(tok))
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s: want field name, got %s", ErrMalformed, where, describe(tok))
		}
		name := prefix + key
		want, ok := fields[key]
		if !ok {
			return nil, fmt.Errorf("%w: unknown field %q", ErrMalformed, name)
		}
		if seen[key] {
			return nil, fmt.Errorf("%w: duplicate field %q", ErrMalformed, name)
		}
		seen[key] = true
		if want == kindObject {
			if _, err := checkObject(dec, candidateFields, name+"."); err != nil {
				return nil, err
			}
			continue
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
		}
		var got kind
		switch tok.(type) {
		case string:
			got = kindString
		case json.Number:
			got = kindNumber
		default:
			return nil, fmt.Errorf("%w: %s: want %s, got %s", ErrMalformed, name, want, describe(tok))
		}
		if got != want {
			return nil, fmt.Errorf("%w: %s: want %s, got %s", ErrMalformed, name, want, got)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
	}
	return seen, nil
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		return "number"
	case json.Delim:
		if t == '[' {
			return "array"
		}
		return fmt.Sprintf("%q", rune(t))
	}
	return fmt.Sprintf("%T", tok)
}

// validate checks m's field values and the fields its type requires and
// forbids. Errors wrap ErrVersion or ErrMalformed and name the field.
func validate(m Message) error {
	if m.Version != Version {
		return fmt.Errorf("%w: v is %d, want %d", ErrVersion, m.Version, Version)
	}
	if !m.Type.Known() {
		return fmt.Errorf("%w: type: unknown type %q", ErrMalformed, m.Type)
	}
	if err := checkCallID(m.CallID); err != nil {
		return fmt.Errorf("%w: call_id: %w", ErrMalformed, err)
	}

	hasSDP := m.Type == TypeOffer || m.Type == TypeAnswer || m.Type == TypeRestart || m.Type == TypeICERestart
	hasReason := m.Type == TypeBusy || m.Type == TypeReject || m.Type == TypeHangup || m.Type == TypeRestartRefused
	switch {
	case m.Type != TypeOffer && m.Type != TypeResume && m.From != "":
		return fmt.Errorf("%w: from: not allowed on %s", ErrMalformed, m.Type)
	case m.Type == TypeResume && m.From == "":
		return fmt.Errorf("%w: from: missing on %s", ErrMalformed, m.Type)
	case !hasSDP && m.SDP != "":
		return fmt.Errorf("%w: sdp: not allowed on %s", ErrMalformed, m.Type)
	case hasSDP && m.SDP == "":
		return fmt.Errorf("%w: sdp: missing on %s", ErrMalformed, m.Type)
	case m.Type != TypeCandidate && m.Candidate != nil:
		return fmt.Errorf("%w: candidate: not allowed on %s", ErrMalformed, m.Type)
	case m.Type == TypeCandidate && m.Candidate == nil:
		return fmt.Errorf("%w: candidate: missing on %s", ErrMalformed, m.Type)
	case !hasReason && m.Reason != "":
		return fmt.Errorf("%w: reason: not allowed on %s", ErrMalformed, m.Type)
	case !hasSDP && m.Mode != "":
		return fmt.Errorf("%w: mode: not allowed on %s", ErrMalformed, m.Type)
	case !hasSDP && m.Ptime != 0:
		return fmt.Errorf("%w: ptime: not allowed on %s", ErrMalformed, m.Type)
	}
	switch m.Ptime {
	case 0, 10, 20, 40, 60:
	default:
		return fmt.Errorf("%w: ptime: %d, want 10, 20, 40 or 60", ErrMalformed, m.Ptime)
	}
	switch m.Mode {
	case "", ModeOnion, ModeP2P, ModeRelay:
	default:
		return fmt.Errorf("%w: mode: %q, want onion, p2p or relay", ErrMalformed, m.Mode)
	}
	if m.Type == TypeRestart && m.Mode != ModeP2P && m.Mode != ModeRelay {
		return fmt.Errorf("%w: mode: restart needs p2p or relay, got %q", ErrMalformed, m.Mode)
	}
	if m.From != "" {
		if err := checkName(m.From); err != nil {
			return fmt.Errorf("%w: from: %w", ErrMalformed, err)
		}
	}
	if hasSDP {
		if err := checkSDP(m.SDP); err != nil {
			return fmt.Errorf("%w: sdp: %w", ErrMalformed, err)
		}
	}
	if m.Candidate != nil {
		if err := checkCandidate(*m.Candidate); err != nil {
			return fmt.Errorf("%w: candidate.%w", ErrMalformed, err)
		}
	}
	if m.Reason != "" {
		if err := checkReason(m.Reason); err != nil {
			return fmt.Errorf("%w: reason: %w", ErrMalformed, err)
		}
	}
	return nil
}

func checkCallID(id string) error {
	if len(id) != callIDLen {
		return fmt.Errorf("want %d lower-case hex characters, got %d characters", callIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("character %d (%q) is not lower-case hex", i+1, c)
		}
	}
	return nil
}

// checkName accepts a .loki address only in canonical form, so that the
// text compared and re-sent is exactly the text received.
func checkName(s string) error {
	a, err := lokinet.ParseAddress(s)
	if err != nil {
		return err
	}
	if a.String() != s {
		return fmt.Errorf("%q is not in canonical form %q", s, a.String())
	}
	return nil
}

func checkSDP(sdp string) error {
	if len(sdp) > MaxSDPSize {
		return fmt.Errorf("%d bytes, limit %d", len(sdp), MaxSDPSize)
	}
	for n, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSuffix(line, "\r")
		for i := 0; i < len(line); i++ {
			if c := line[i]; (c < 0x20 || c > 0x7e) && c != '\t' {
				return fmt.Errorf("line %d: byte %d (%#02x) is not printable ASCII", n+1, i+1, c)
			}
		}
		if strings.HasPrefix(strings.ToLower(line), "a=candidate") {
			return fmt.Errorf("line %d: a=candidate lines are not allowed (candidates travel separately)", n+1)
		}
	}
	return nil
}

func checkReason(r string) error {
	if len(r) > MaxReasonLen {
		return fmt.Errorf("%d bytes, limit %d", len(r), MaxReasonLen)
	}
	if i := nonPrintable(r); i >= 0 {
		return fmt.Errorf("byte %d (%#02x) is not printable ASCII", i+1, r[i])
	}
	return nil
}

// nonPrintable returns the index of the first byte of s outside printable
// ASCII, or -1.
func nonPrintable(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return i
		}
	}
	return -1
}

// Validate reports what, if anything, makes c malformed: the checks Decode
// applies to a received candidate, for code that builds one another way.
func (c Candidate) Validate() error {
	if err := checkCandidate(c); err != nil {
		return fmt.Errorf("%w: candidate.%w", ErrMalformed, err)
	}
	return nil
}

func checkCandidate(c Candidate) error {
	if c.Foundation == "" || len(c.Foundation) > maxFoundationLen {
		return fmt.Errorf("foundation: want 1 to %d characters, got %d", maxFoundationLen, len(c.Foundation))
	}
	for i := 0; i < len(c.Foundation); i++ {
		ch := c.Foundation[i]
		if (ch < 'A' || ch > 'Z') && (ch < 'a' || ch > 'z') && (ch < '0' || ch > '9') && ch != '+' && ch != '/' {
			return fmt.Errorf("foundation: character %d (%q) is not in [A-Za-z0-9+/]", i+1, ch)
		}
	}
	if c.Component != 1 {
		return fmt.Errorf("component: %d, want 1", c.Component)
	}
	if c.Priority == 0 || c.Priority > 1<<31-1 {
		return fmt.Errorf("priority: %d, want 1 to 2^31-1", c.Priority)
	}
	if c.Port == 0 {
		return fmt.Errorf("port: 0")
	}
	switch {
	case c.Name != "" && c.Address != "":
		return fmt.Errorf("name and address: only one of them may be set")
	case c.Name != "":
		if err := checkName(c.Name); err != nil {
			return fmt.Errorf("name: %w", err)
		}
		if c.Protocol != "udp" {
			return fmt.Errorf("protocol: %q, want \"udp\"", c.Protocol)
		}
		if c.Type != "host" {
			return fmt.Errorf("type: %q, want \"host\" for a named candidate", c.Type)
		}
	case c.Address != "":
		a, err := netip.ParseAddr(c.Address)
		if err != nil || a.Zone() != "" || a.String() != c.Address {
			return fmt.Errorf("address: %q is not an IP address in canonical form", c.Address)
		}
		if c.Protocol != "udp" && c.Protocol != "tcp" {
			return fmt.Errorf("protocol: %q, want \"udp\" or \"tcp\"", c.Protocol)
		}
		switch c.Type {
		case "host", "srflx", "relay", "prflx":
		default:
			return fmt.Errorf("type: %q, want host, srflx, relay or prflx", c.Type)
		}
	default:
		return fmt.Errorf("name: missing (or address, outside onion mode)")
	}
	return nil
}
