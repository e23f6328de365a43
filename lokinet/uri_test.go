package lokinet

import (
	"errors"
	"strings"
	"testing"
)

const sharedAddr = "55fxd8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.loki"

func TestParseShared(t *testing.T) {
	a, err := ParseAddress(sharedAddr)
	if err != nil {
		t.Fatal(err)
	}
	if got := URI(a); got != "lokicall:"+sharedAddr {
		t.Errorf("URI = %q", got)
	}
	for _, in := range []string{
		"lokicall:" + sharedAddr, "LOKICALL:" + strings.ToUpper(sharedAddr), " lokicall://" + sharedAddr + "\n",
		sharedAddr, "lokicall:" + sharedAddr + ".",
	} {
		if got, err := ParseShared(in); err != nil || got != a {
			t.Errorf("ParseShared(%q) = %v, %v; want %v", in, got, err, a)
		}
	}
	for _, in := range []string{
		"", "lokicall:", "lokicall:" + sharedAddr + ":7787", "lokicall:" + sharedAddr + "?x=1", "lokicall://" + sharedAddr + "/x",
		"lokicall:alice", "https://" + sharedAddr, "lokicall:user@" + sharedAddr, "lokicall:" + sharedAddr + " extra",
		"lokicall:" + strings.Replace(sharedAddr, "5", "0", 1),
	} {
		if got, err := ParseShared(in); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("ParseShared(%q) = %v, %v; want ErrInvalidAddress", in, got, err)
		}
	}
}

// FuzzParseShared checks that ParseShared never panics and that what it
// accepts is an address whose URI it reads back to the same address.
func FuzzParseShared(f *testing.F) {
	for _, s := range []string{"lokicall:" + sharedAddr, sharedAddr, "lokicall://" + sharedAddr, "lokicall:x:1", "LOKICALL:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseShared(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("ParseShared(%q): %v does not wrap ErrInvalidAddress", s, err)
			}
			return
		}
		if a.IsZero() {
			t.Fatalf("ParseShared(%q) accepted the zero address", s)
		}
		b, err := ParseShared(URI(a))
		if err != nil || b != a {
			t.Fatalf("URI round trip of %q: %v, %v", s, b, err)
		}
	})
}
