package lokinet

import (
	"fmt"
	"strings"
)

// URIScheme is the scheme of the URI that shares an address, as in
// "lokicall:55fx…uy4o.loki": what `lokicall whoami --qr` encodes.
const URIScheme = "lokicall"

// URI returns the address as a lokicall: URI.
func URI(a Address) string { return URIScheme + ":" + a.String() }

// ParseShared accepts what a shared address may look like: a lokicall: URI
// ("lokicall:ADDRESS.loki", the scheme in any case, "//" allowed after it)
// or a bare address, with surrounding white space. Anything more (a port, a
// path, a query) is refused with an error wrapping ErrInvalidAddress, so
// that a contact is only ever an address.
func ParseShared(s string) (Address, error) {
	t := strings.TrimSpace(s)
	if scheme, rest, ok := strings.Cut(t, ":"); ok && strings.EqualFold(scheme, URIScheme) {
		t = strings.TrimPrefix(rest, "//")
		if i := strings.IndexAny(t, ":/?#@ \t\r\n"); i >= 0 {
			return Address{}, fmt.Errorf("%w: %q: a %s: URI holds an address and nothing else (found %q)", ErrInvalidAddress, s, URIScheme, t[i])
		}
	}
	a, err := ParseAddress(t)
	if err != nil {
		return Address{}, err
	}
	return a, nil
}
