package lokinet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// realAddr is a real Lokinet address (seen on the live network).
const realAddr = "55fxd8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.loki"

// withChar returns realAddr with its label character at 1-based position i
// replaced by c.
func withChar(i int, c byte) string {
	b := []byte(realAddr)
	b[i-1] = c
	return string(b)
}

func TestParseAddress(t *testing.T) {
	label := strings.TrimSuffix(realAddr, ".loki")
	tests := []struct {
		name    string
		in      string
		want    string // canonical form when valid
		errPart string // substring of the error when invalid
	}{
		{name: "real", in: realAddr, want: realAddr},
		{name: "upper case", in: strings.ToUpper(realAddr), want: realAddr},
		{name: "mixed case", in: "55FXD8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.LoKi", want: realAddr},
		{name: "trailing dot", in: realAddr + ".", want: realAddr},
		{name: "spaces", in: "  " + realAddr + "\n", want: realAddr},
		{name: "last y", in: withChar(52, 'y'), want: withChar(52, 'y')},

		{name: "empty", in: "", errPart: "no .loki suffix"},
		{name: "no tld", in: label, errPart: "no .loki suffix"},
		{name: "wrong tld", in: label + ".sesh", errPart: "does not end in .loki"},
		{name: "dns tld", in: label + ".com", errPart: "does not end in .loki"},
		{name: "subdomain", in: "www." + realAddr, errPart: "does not end in .loki"},
		{name: "short", in: label[1:] + ".loki", errPart: "has 51 characters"},
		{name: "long", in: "y" + label + ".loki", errPart: "has 53 characters"},
		{name: "ons", in: "alice.loki", errPart: "has 5 characters"},
		{name: "ons long", in: "my-fairly-long-ons-name.loki", errPart: "has 23 characters"},
		{name: "only tld", in: ".loki", errPart: "has 0 characters"},
		{name: "bad char l", in: withChar(3, 'l'), errPart: "character 3 ('l') is not z-base32"},
		{name: "bad char 0", in: withChar(17, '0'), errPart: "character 17 ('0') is not z-base32"},
		{name: "bad char 2", in: withChar(1, '2'), errPart: "character 1 ('2') is not z-base32"},
		{name: "bad char v", in: withChar(40, 'v'), errPart: "character 40 ('v') is not z-base32"},
		{name: "bad char hyphen", in: withChar(52, '-'), errPart: "character 52 ('-') is not z-base32"},
		{name: "last not y or o", in: withChar(52, 'b'), errPart: "last character 'b' must be 'y' or 'o'"},
		{name: "last e", in: withChar(52, 'e'), errPart: "last character 'e'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddress(tt.in)
			if tt.errPart != "" {
				if err == nil {
					t.Fatalf("ParseAddress(%q) = %v, want error containing %q", tt.in, a, tt.errPart)
				}
				if !errors.Is(err, ErrInvalidAddress) {
					t.Errorf("error %v does not wrap ErrInvalidAddress", err)
				}
				if !strings.Contains(err.Error(), tt.errPart) {
					t.Errorf("error %q does not contain %q", err, tt.errPart)
				}
				if !a.IsZero() {
					t.Errorf("failed parse returned non-zero address %v", a)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tt.in, err)
			}
			if got := a.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := a.FQDN(); got != tt.want+"." {
				t.Errorf("FQDN() = %q, want %q", got, tt.want+".")
			}
		})
	}
}

func TestAddressRoundTrip(t *testing.T) {
	for i := range 50 {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		a := AddressFromKey(pub)
		s := a.String()
		if len(s) != encodedKeyLen+len(".loki") || !strings.HasSuffix(s, ".loki") {
			t.Fatalf("key %d: address %q has the wrong shape", i, s)
		}
		if last := s[encodedKeyLen-1]; last != 'y' && last != 'o' {
			t.Fatalf("key %d: address %q ends in %q", i, s, last)
		}
		b, err := ParseAddress(s)
		if err != nil {
			t.Fatalf("key %d: ParseAddress(%q): %v", i, s, err)
		}
		if b != a {
			t.Fatalf("key %d: re-parsed address differs", i)
		}
		if !bytes.Equal(b.PublicKey(), pub) {
			t.Fatalf("key %d: key → address → key changed the key", i)
		}
	}
}

func TestAddressRealKeyRoundTrip(t *testing.T) {
	a, err := ParseAddress(realAddr)
	if err != nil {
		t.Fatal(err)
	}
	if got := AddressFromKey(a.PublicKey()); got != a || got.String() != realAddr {
		t.Fatalf("address → key → address = %q, want %q", got, realAddr)
	}
}

func TestAddressZeroAndText(t *testing.T) {
	var zero Address
	if !zero.IsZero() || zero.String() != "" {
		t.Fatalf("zero Address: IsZero %v, String %q", zero.IsZero(), zero.String())
	}
	a, err := ParseAddress(realAddr)
	if err != nil {
		t.Fatal(err)
	}
	text, err := a.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var b Address
	if err := b.UnmarshalText(text); err != nil || b != a {
		t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", text, b, err, a)
	}
	if err := b.UnmarshalText(nil); err != nil || !b.IsZero() {
		t.Fatalf("UnmarshalText(empty) = %v, %v; want zero", b, err)
	}
	if err := b.UnmarshalText([]byte("alice.loki")); !errors.Is(err, ErrInvalidAddress) {
		t.Fatalf("UnmarshalText(alice.loki) error = %v", err)
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		realAddr, strings.ToUpper(realAddr), realAddr + ".", withChar(52, 'b'), withChar(3, 'l'),
		"alice.loki", "", ".loki", "x.loki.", realAddr[:52] + ".sesh",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("ParseAddress(%q) error %v does not wrap ErrInvalidAddress", s, err)
			}
			return
		}
		canon := a.String()
		if want := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "."); canon != want {
			t.Fatalf("ParseAddress(%q).String() = %q, want %q", s, canon, want)
		}
		b, err := ParseAddress(canon)
		if err != nil {
			t.Fatalf("canonical %q does not re-parse: %v", canon, err)
		}
		if b != a || b.String() != canon {
			t.Fatalf("canonical %q re-parses to %q", canon, b)
		}
		if AddressFromKey(a.PublicKey()) != a {
			t.Fatalf("%q: key round trip differs", canon)
		}
	})
}

func TestAddressFromKeyWrongLength(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if a := AddressFromKey(make([]byte, n)); !a.IsZero() {
			t.Errorf("AddressFromKey(%d bytes) = %q, want the zero Address", n, a)
		}
	}
}
