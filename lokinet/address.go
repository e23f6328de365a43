package lokinet

import (
	"crypto/ed25519"
	"fmt"
	"strings"
)

// zbase32Alphabet is the human-oriented base32 alphabet Lokinet uses for
// public-key addresses.
const zbase32Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// encodedKeyLen is the number of z-base32 characters that carry a 32-byte
// ed25519 public key: 256 bits in 5-bit groups, the last group holding one bit.
const encodedKeyLen = 52

var zbase32Index = func() [256]int8 {
	var idx [256]int8
	for i := range idx {
		idx[i] = -1
	}
	for i := 0; i < len(zbase32Alphabet); i++ {
		idx[zbase32Alphabet[i]] = int8(i)
	}
	return idx
}()

// Address is a validated public-key address of a Lokinet node, such as
// "55fxd8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.loki". The zero value
// is no address. Addresses are comparable and always lower case.
type Address struct {
	key    [ed25519.PublicKeySize]byte
	tld    string
	parsed bool
}

// ParseAddress validates s as a public-key address of the default flavour
// (Lokinet, ".loki"). Upper case and a trailing dot are accepted and folded
// away; anything else that is not 52 z-base32 characters ending in 'y' or 'o'
// followed by ".loki" is rejected with an error that says what is wrong and
// wraps ErrInvalidAddress.
func ParseAddress(s string) (Address, error) {
	return Lokinet.ParseAddress(s)
}

// ParseAddress validates s as a public-key address of this flavour.
func (f Flavour) ParseAddress(s string) (Address, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	label, tld, ok := strings.Cut(name, ".")
	if !ok {
		return Address{}, fmt.Errorf("%w: %q has no .%s suffix", ErrInvalidAddress, s, f.TLD)
	}
	if tld != f.TLD {
		return Address{}, fmt.Errorf("%w: %q does not end in .%s", ErrInvalidAddress, s, f.TLD)
	}
	if len(label) != encodedKeyLen {
		return Address{}, fmt.Errorf("%w: %q has %d characters before .%s, want %d",
			ErrInvalidAddress, s, len(label), f.TLD, encodedKeyLen)
	}
	key, err := decodeKey(label)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q: %w", ErrInvalidAddress, s, err)
	}
	return Address{key: key, tld: f.TLD, parsed: true}, nil
}

// AddressFromKey returns the address of the node that owns pub, in the
// default flavour, or the zero Address if pub is not an ed25519 public key.
func AddressFromKey(pub ed25519.PublicKey) Address {
	return Lokinet.AddressFromKey(pub)
}

// AddressFromKey returns the address of the node that owns pub in this
// flavour, or the zero Address if pub is not ed25519.PublicKeySize bytes long.
func (f Flavour) AddressFromKey(pub ed25519.PublicKey) Address {
	if len(pub) != ed25519.PublicKeySize {
		return Address{}
	}
	var a Address
	copy(a.key[:], pub)
	a.tld = f.TLD
	a.parsed = true
	return a
}

// IsZero reports whether a is the zero Address.
func (a Address) IsZero() bool { return !a.parsed }

// PublicKey returns the node's ed25519 public key.
func (a Address) PublicKey() ed25519.PublicKey {
	k := make(ed25519.PublicKey, ed25519.PublicKeySize)
	copy(k, a.key[:])
	return k
}

// String returns the address in canonical form, "<52 characters>.loki", or ""
// for the zero Address.
func (a Address) String() string {
	if a.IsZero() {
		return ""
	}
	return encodeKey(a.key) + "." + a.tld
}

// FQDN returns the address as a fully qualified DNS name with a trailing dot.
func (a Address) FQDN() string { return a.String() + "." }

// MarshalText implements encoding.TextMarshaler.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler for the default flavour.
func (a *Address) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = Address{}
		return nil
	}
	p, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

func encodeKey(key [ed25519.PublicKeySize]byte) string {
	var sb strings.Builder
	sb.Grow(encodedKeyLen)
	var acc uint16
	bits := 0
	for _, b := range key {
		acc = acc<<8 | uint16(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(zbase32Alphabet[(acc>>bits)&31])
		}
	}
	if bits > 0 {
		sb.WriteByte(zbase32Alphabet[(acc<<(5-bits))&31])
	}
	return sb.String()
}

func decodeKey(label string) ([ed25519.PublicKeySize]byte, error) {
	var key [ed25519.PublicKeySize]byte
	var acc uint16
	bits, n := 0, 0
	for i := 0; i < len(label); i++ {
		v := zbase32Index[label[i]]
		if v < 0 {
			return key, fmt.Errorf("character %d (%q) is not z-base32", i+1, label[i])
		}
		if i == len(label)-1 && v&15 != 0 {
			return key, fmt.Errorf("last character %q must be 'y' or 'o'", label[i])
		}
		acc = acc<<5 | uint16(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			if n < len(key) {
				key[n] = byte(acc >> bits)
			}
			n++
		}
	}
	return key, nil
}
