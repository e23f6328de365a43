package signalling

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	alice  = "55fxd8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.loki"
	bob    = "yyyoryarywdyqnyjbefoadeqbhebnrounoktcfaadrpbs8y7daxo.loki"
	callID = "0123456789abcdef0123456789abcdef"
)

const testSDP = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 0.0.0.0\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:kSdjcUJtUxqcwQPr\r\n" +
	"a=ice-pwd:jmyZVPUqGCHQhhBhaHjRSAgkSvzAHwbi\r\n" +
	"a=fingerprint:sha-256 4A:3B:9D:1E:55:02:7C:A0:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:01:02:03:04:05:06:07:08\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=sendrecv\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n"

func testCandidate() *Candidate {
	return &Candidate{Foundation: "2130706431", Component: 1, Protocol: "udp", Priority: 2130706431, Name: alice, Port: 50000, Type: "host"}
}

// fixtures holds one valid message of each type; each has a golden file
// testdata/<type>.json.
func fixtures() map[Type]Message {
	return map[Type]Message{
		TypeOffer:           {Version: Version, Type: TypeOffer, CallID: callID, From: alice, SDP: testSDP},
		TypeAnswer:          {Version: Version, Type: TypeAnswer, CallID: callID, SDP: strings.Replace(testSDP, "actpass", "active", 1)},
		TypeCandidate:       {Version: Version, Type: TypeCandidate, CallID: callID, Candidate: testCandidate()},
		TypeEndOfCandidates: {Version: Version, Type: TypeEndOfCandidates, CallID: callID},
		TypeRinging:         {Version: Version, Type: TypeRinging, CallID: callID},
		TypeAccept:          {Version: Version, Type: TypeAccept, CallID: callID},
		TypeBusy:            {Version: Version, Type: TypeBusy, CallID: callID},
		TypeReject:          {Version: Version, Type: TypeReject, CallID: callID, Reason: ReasonDeclined},
		TypeHangup:          {Version: Version, Type: TypeHangup, CallID: callID, Reason: ReasonCompleted},
		TypeICERestart: {Version: Version, Type: TypeICERestart, CallID: callID, Mode: ModeOnion, Ptime: 20,
			SDP: strings.Replace(strings.Replace(testSDP, "kSdjcUJtUxqcwQPr", "QmVyZ2VuV2llbkJl", 1), "jmyZVPUqGCHQhhBhaHjRSAgkSvzAHwbi", "TmV1ZUNyZWRlbnRpYWxzRm9yUmVzdGFy", 1)},
		TypeRestartRefused: {Version: Version, Type: TypeRestartRefused, CallID: callID, Reason: ReasonNotNow},
		TypeRestartRequest: {Version: Version, Type: TypeRestartRequest, CallID: callID},
		TypeProbe:          {Version: Version, Type: TypeProbe, CallID: callID},
		TypeProbeReply:     {Version: Version, Type: TypeProbeReply, CallID: callID},
		TypeResume:         {Version: Version, Type: TypeResume, CallID: callID, From: alice},
		TypeResumed:        {Version: Version, Type: TypeResumed, CallID: callID},
	}
}

func TestGolden(t *testing.T) {
	for typ, m := range fixtures() {
		t.Run(string(typ), func(t *testing.T) {
			path := filepath.Join("testdata", string(typ)+".json")
			got, err := Encode(m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want = bytes.TrimSuffix(want, []byte("\n"))
			if !bytes.Equal(got, want) {
				t.Errorf("Encode = %s\nwant (%s) %s", got, path, want)
			}
			dec, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode(%s): %v", path, err)
			}
			if !reflect.DeepEqual(dec, m) {
				t.Errorf("Decode(%s) = %+v, want %+v", path, dec, m)
			}
		})
	}
}

func TestNewCallID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewCallID()
		if err := checkCallID(id); err != nil {
			t.Fatalf("NewCallID() = %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewCallID() repeated %q", id)
		}
		seen[id] = true
	}
}

// raw marshals m to a generic map, lets edit change it, and returns the JSON.
func raw(t testing.TB, m Message, edit func(map[string]any)) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(obj)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type badInput struct {
	name string
	in   []byte
	want error  // ErrMalformed unless set
	text string // a fragment the error must contain, naming the field
}

// badInputs returns, for every message type, inputs that Decode must refuse.
func badInputs(t testing.TB) []badInput {
	var cases []badInput
	add := func(name string, in []byte, text string) {
		cases = append(cases, badInput{name: name, in: in, text: text})
	}
	fields := []string{"from", "sdp", "candidate", "reason"}
	values := map[string]any{
		"from": alice, "sdp": testSDP, "reason": "x",
		"candidate": map[string]any{"foundation": "1", "component": 1, "protocol": "udp", "priority": 1, "name": alice, "port": 1, "type": "host"},
	}
	for typ, m := range fixtures() {
		p := string(typ) + "/"
		good := raw(t, m, nil)
		required := []string{"v", "type", "call_id"}
		switch typ {
		case TypeOffer, TypeAnswer:
			required = append(required, "sdp")
		case TypeCandidate:
			required = append(required, "candidate")
		case TypeResume:
			required = append(required, "from")
		}
		for _, f := range required {
			add(p+"missing "+f, raw(t, m, func(o map[string]any) { delete(o, f) }), f)
		}
		for _, f := range fields {
			if _, ok := values[f]; ok && !allowed(typ, f) {
				add(p+"forbidden "+f, raw(t, m, func(o map[string]any) { o[f] = values[f] }), f)
			}
		}
		add(p+"unknown field", raw(t, m, func(o map[string]any) { o["x"] = 1 }), `"x"`)
		add(p+"field name case", raw(t, m, func(o map[string]any) { o["TYPE"] = o["type"]; delete(o, "type") }), "TYPE")
		add(p+"v as string", raw(t, m, func(o map[string]any) { o["v"] = "1" }), "v: want number")
		add(p+"v fraction", raw(t, m, func(o map[string]any) { o["v"] = 1.5 }), "v")
		add(p+"type as number", raw(t, m, func(o map[string]any) { o["type"] = 7 }), "type: want string")
		add(p+"type null", raw(t, m, func(o map[string]any) { o["type"] = nil }), "type: want string, got null")
		add(p+"unknown type", raw(t, m, func(o map[string]any) { o["type"] = "ring" }), "type")
		add(p+"call_id array", raw(t, m, func(o map[string]any) { o["call_id"] = []int{1} }), "call_id: want string, got array")
		add(p+"call_id upper case", raw(t, m, func(o map[string]any) { o["call_id"] = strings.ToUpper(callID) }), "call_id")
		add(p+"call_id short", raw(t, m, func(o map[string]any) { o["call_id"] = callID[1:] }), "call_id")
		add(p+"call_id long", raw(t, m, func(o map[string]any) { o["call_id"] = callID + "0" }), "call_id")
		add(p+"trailing garbage", append(bytes.Clone(good), " x"...), "after the object")
		add(p+"second object", append(bytes.Clone(good), good...), "trailing data")
		add(p+"duplicate key", append([]byte(`{"call_id":"`+callID+`",`), good[1:]...), `duplicate field "call_id"`)
		add(p+"non-UTF-8", bytes.Replace(good, []byte(callID), []byte(callID[:30]+"\xff\xfe"), 1), "UTF-8")
		add(p+"oversize", raw(t, m, func(o map[string]any) { o["pad"] = strings.Repeat("x", MaxMessageSize) }), "limit")
		add(p+"array", []byte("["+string(good)+"]"), "want object, got array")
		add(p+"truncated", good[:len(good)-1], "")
	}
	offer, cand := fixtures()[TypeOffer], fixtures()[TypeCandidate]
	set := func(k string, v any) func(map[string]any) { return func(o map[string]any) { o[k] = v } }
	setCand := func(k string, v any) func(map[string]any) {
		return func(o map[string]any) { o["candidate"].(map[string]any)[k] = v }
	}
	for _, c := range []struct {
		name string
		m    Message
		edit func(map[string]any)
		text string
	}{
		{"offer/from not an address", offer, set("from", "alice.loki"), "from"},
		{"offer/from upper case", offer, set("from", strings.ToUpper(alice)), "canonical"},
		{"offer/from IP", offer, set("from", "172.16.0.2"), "from"},
		{"offer/empty sdp", offer, set("sdp", ""), "sdp: missing"},
		{"offer/sdp candidate line", offer, set("sdp", testSDP+"a=candidate:1 1 udp 2130706431 172.16.0.1 5000 typ host\r\n"), "a=candidate"},
		{"offer/sdp candidate after bare CR", offer, set("sdp", testSDP+"x\ra=candidate:1\r\n"), "sdp"},
		{"offer/sdp control character", offer, set("sdp", testSDP+"a=x\x00\r\n"), "sdp"},
		{"offer/sdp non-ASCII", offer, set("sdp", testSDP+"s=café\r\n"), "sdp"},
		{"offer/sdp oversize", offer, set("sdp", strings.Repeat("a", MaxSDPSize+1)), "sdp"},
		{"candidate/null", cand, set("candidate", nil), "candidate: want object, got null"},
		{"candidate/string", cand, set("candidate", "candidate:1 1 udp"), "candidate: want object"},
		{"candidate/unknown field", cand, setCand("ip", "172.16.0.2"), `"candidate.ip"`},
		{"candidate/missing name", cand, func(o map[string]any) { delete(o["candidate"].(map[string]any), "name") }, "candidate.name"},
		{"candidate/name IP", cand, setCand("name", "172.16.0.2"), "candidate.name"},
		{"candidate/name ONS", cand, setCand("name", "bob.loki"), "candidate.name"},
		{"candidate/name trailing dot", cand, setCand("name", alice+"."), "candidate.name"},
		{"candidate/port 0", cand, setCand("port", 0), "candidate.port"},
		{"candidate/port too big", cand, setCand("port", 65536), "candidate.port"},
		{"candidate/port negative", cand, setCand("port", -1), "candidate.port"},
		{"candidate/port string", cand, setCand("port", "5000"), "candidate.port: want number"},
		{"candidate/component 2", cand, setCand("component", 2), "candidate.component"},
		{"candidate/protocol tcp", cand, setCand("protocol", "tcp"), "candidate.protocol"},
		{"candidate/type srflx", cand, setCand("type", "srflx"), "candidate.type"},
		{"candidate/priority 0", cand, setCand("priority", 0), "candidate.priority"},
		{"candidate/priority 2^31", cand, setCand("priority", 1<<31), "candidate.priority"},
		{"candidate/foundation empty", cand, setCand("foundation", ""), "candidate.foundation"},
		{"candidate/foundation long", cand, setCand("foundation", strings.Repeat("a", 33)), "candidate.foundation"},
		{"candidate/foundation char", cand, setCand("foundation", "a-b"), "candidate.foundation"},
		{"candidate/nested object", cand, setCand("name", map[string]any{}), "candidate.name: want string"},
		{"busy/reason long", fixtures()[TypeBusy], set("reason", strings.Repeat("x", MaxReasonLen+1)), "reason"},
		{"reject/reason newline", fixtures()[TypeReject], set("reason", "declined\n"), "reason"},
		{"hangup/reason non-ASCII", fixtures()[TypeHangup], set("reason", "fertig\u00e9"), "reason"},
		{"ice-restart/sdp candidate line", fixtures()[TypeICERestart], set("sdp", testSDP+"a=candidate:1 1 udp 2130706431 172.16.0.1 5000 typ host\r\n"), "a=candidate"},
		{"ice-restart/mode unknown", fixtures()[TypeICERestart], set("mode", "tor"), "mode"},
		{"ice-restart/ptime 30", fixtures()[TypeICERestart], set("ptime", 30), "ptime"},
		{"restart-refused/reason newline", fixtures()[TypeRestartRefused], set("reason", "not-now\n"), "reason"},
		{"resume/from not canonical", fixtures()[TypeResume], set("from", strings.ToUpper(alice)), "from"},
		{"resume/from not a .loki address", fixtures()[TypeResume], set("from", "bob.example.com"), "from"},
	} {
		add(c.name, raw(t, c.m, c.edit), c.text)
	}
	return cases
}

func allowed(t Type, field string) bool {
	switch field {
	case "from":
		return t == TypeOffer || t == TypeResume
	case "sdp":
		return t == TypeOffer || t == TypeAnswer || t == TypeICERestart
	case "candidate":
		return t == TypeCandidate
	case "reason":
		return t == TypeBusy || t == TypeReject || t == TypeHangup || t == TypeRestartRefused
	}
	return false
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range badInputs(t) {
		t.Run(c.name, func(t *testing.T) {
			want := c.want
			if want == nil {
				want = ErrMalformed
			}
			m, err := Decode(c.in)
			if !errors.Is(err, want) {
				t.Fatalf("Decode(%.200q) = %+v, %v; want %v", c.in, m, err, want)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not mention %q", err, c.text)
			}
		})
	}
}

func TestDecodeVersion(t *testing.T) {
	m := fixtures()[TypeOffer]
	for _, in := range [][]byte{
		raw(t, m, func(o map[string]any) { o["v"] = 2 }),
		raw(t, m, func(o map[string]any) { o["v"] = 0 }),
		// A newer peer's extra fields must not hide its version.
		raw(t, m, func(o map[string]any) { o["v"] = 2; o["relay"] = map[string]any{"x": 1} }),
	} {
		if _, err := Decode(in); !errors.Is(err, ErrVersion) {
			t.Errorf("Decode(%.80s…) = %v, want ErrVersion", in, err)
		}
	}
}

func TestEncodeValidates(t *testing.T) {
	quotes := fixtures()[TypeOffer]
	quotes.SDP = strings.Repeat(`"`, MaxSDPSize) // valid, but each quote is escaped
	for _, c := range []struct {
		name string
		m    Message
		want error
	}{
		{"zero", Message{}, ErrVersion},
		{"no call id", Message{Version: Version, Type: TypeRinging}, ErrMalformed},
		{"sdp on accept", Message{Version: Version, Type: TypeAccept, CallID: callID, SDP: testSDP}, ErrMalformed},
		{"candidate without name", Message{Version: Version, Type: TypeCandidate, CallID: callID, Candidate: &Candidate{Foundation: "1", Component: 1, Protocol: "udp", Priority: 1, Port: 1, Type: "host"}}, ErrMalformed},
		{"does not fit a frame", quotes, ErrFrameTooLarge},
	} {
		if _, err := Encode(c.m); !errors.Is(err, c.want) {
			t.Errorf("%s: Encode = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestDecodeAcceptsEscapesAndSpace(t *testing.T) {
	in := []byte(" {\"v\" : 1 ,\n\"typ\\u0065\":\"ringing\",\"call_id\":\"" + callID + "\", \"reason\":\"\"}\n")
	m, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := fixtures()[TypeRinging]; !reflect.DeepEqual(m, want) {
		t.Errorf("Decode = %+v, want %+v", m, want)
	}
}
