package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/lokicall/lokicall/lokinet"
)

func newAddress(t testing.TB) lokinet.Address {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return lokinet.AddressFromKey(pub)
}

func TestAddrMap(t *testing.T) {
	t.Parallel()
	m := NewAddrMap(DefaultAddress)
	if m.Self() != netip.MustParseAddr("172.16.0.1") || m.Prefix() != netip.MustParsePrefix("172.16.0.0/16") {
		t.Fatalf("self %s prefix %s", m.Self(), m.Prefix())
	}
	a, b := newAddress(t), newAddress(t)
	for _, step := range []struct {
		addr lokinet.Address
		want string
	}{{a, "172.16.0.2"}, {b, "172.16.0.3"}, {a, "172.16.0.2"}} {
		ip, err := m.Map(step.addr)
		if err != nil || ip.String() != step.want {
			t.Fatalf("Map = %v, %v; want %s", ip, err, step.want)
		}
		if back, ok := m.Reverse(ip); !ok || back != step.addr {
			t.Fatalf("Reverse(%s) = %v, %v", ip, back, ok)
		}
		if got, ok := m.Lookup(step.addr); !ok || got != ip {
			t.Fatalf("Lookup = %v, %v", got, ok)
		}
	}
	if _, ok := m.Reverse(netip.MustParseAddr("172.16.0.4")); ok {
		t.Fatal("unmapped address reversed")
	}
}

func TestAddrMapFull(t *testing.T) {
	t.Parallel()
	// A /29 holds .0 (network), .1 (self), .2–.6 and .7 (broadcast).
	m := NewAddrMap(netip.MustParsePrefix("10.0.0.1/29"))
	for i := range 5 {
		ip, err := m.Map(newAddress(t))
		if err != nil {
			t.Fatalf("mapping %d: %v", i, err)
		}
		if want := netip.AddrFrom4([4]byte{10, 0, 0, byte(2 + i)}); ip != want {
			t.Fatalf("mapping %d got %s, want %s", i, ip, want)
		}
	}
	if _, err := m.Map(newAddress(t)); !errors.Is(err, ErrRangeFull) {
		t.Fatalf("sixth mapping: err = %v, want ErrRangeFull", err)
	}
}

func TestIdentityPersists(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "identity.key")
	k1, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("identity changed across loads")
	}
	a := lokinet.AddressFromKey(k1.Public().(ed25519.PublicKey))
	if _, err := lokinet.ParseAddress(a.String()); err != nil {
		t.Fatalf("derived address %s does not parse: %v", a, err)
	}
}
