package signalling

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that whatever it accepts
// re-encodes and decodes to an equal Message, and that only offers and
// resumes (which must) carry a sender's address.
func FuzzDecode(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range badInputs(f) {
		if len(c.in) <= 4096 {
			f.Add(c.in)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// Only an offer or a resume names its sender, and a resume must:
		// the listener compares it with the connection's own caller.
		switch {
		case m.Type == TypeResume && (m.From == "" || checkName(m.From) != nil):
			t.Fatalf("Decode accepted a resume without a canonical From: %q", b)
		case m.From != "" && m.Type != TypeOffer && m.Type != TypeResume:
			t.Fatalf("Decode accepted From on %s: %q", m.Type, b)
		}
		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("Decode accepted %q as %+v, but Encode refuses it: %v", b, m, err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(m)) = %v for %q (from %q)", err, enc, b)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
	})
}
