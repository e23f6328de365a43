package lokinet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxNameLen is the longest DNS name in text form without the trailing dot.
const maxNameLen = 253

// Target is what a user calls: a node address or an ONS name of the flavour's
// TLD, with an optional port.
type Target struct {
	// Host is the lower-case name without trailing dot, such as
	// "<52 characters>.loki" or "alice.loki" (ONS).
	Host string
	// Address is the node's address when Host is one (or a subdomain of one),
	// the zero Address for ONS names, which only the daemon can resolve.
	Address Address
	// Port is the port given after the name, 0 when absent.
	Port uint16
}

// ParseTarget parses ADDRESS[:PORT] or NAME.loki[:PORT] in the default
// flavour (Lokinet). See Flavour.ParseTarget.
func ParseTarget(s string) (Target, error) {
	return Lokinet.ParseTarget(s)
}

// ParseTarget parses ADDRESS[:PORT] or NAME.<tld>[:PORT]. Names are folded to
// lower case and may carry a trailing dot. ONS names follow DNS label syntax
// (labels of 1 to 63 letters, digits and hyphens, not starting or ending in a
// hyphen). A label of address length (52 characters) just before the TLD is
// taken as an address and must be valid z-base32: it is never an ONS name.
// The port, if present, is 1 to 65535. Errors wrap ErrInvalidTarget, and also
// ErrInvalidAddress when an address was meant.
func (f Flavour) ParseTarget(s string) (Target, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Target{}, fmt.Errorf("%w: empty", ErrInvalidTarget)
	}
	hostPart := in
	var t Target
	if i := strings.LastIndexByte(in, ':'); i >= 0 {
		hostPart = in[:i]
		port, err := parsePort(in[i+1:])
		if err != nil {
			return Target{}, fmt.Errorf("%w: %q: %v", ErrInvalidTarget, s, err)
		}
		t.Port = port
	}
	host, addr, err := f.parseHost(hostPart)
	if err != nil {
		return Target{}, targetError(s, err)
	}
	t.Host, t.Address = host, addr
	return t, nil
}

// String returns the target as host[:port].
func (t Target) String() string {
	if t.Port == 0 {
		return t.Host
	}
	return t.Host + ":" + strconv.Itoa(int(t.Port))
}

// IsONS reports whether the target is an ONS name, which only the daemon can
// map to an address.
func (t Target) IsONS() bool { return t.Host != "" && t.Address.IsZero() }

func parsePort(p string) (uint16, error) {
	if p == "" {
		return 0, fmt.Errorf("empty port after ':'")
	}
	if len(p) > 5 || p[0] == '0' {
		return 0, fmt.Errorf("port %q is not 1 to 65535", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, fmt.Errorf("port %q is not a number", p)
		}
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q is not 1 to 65535", p)
	}
	return uint16(n), nil
}

// hostError is a parseHost failure; addr marks one where an address was
// meant, so that callers can also wrap ErrInvalidAddress.
type hostError struct {
	msg  string
	addr bool
}

func (e *hostError) Error() string { return e.msg }

func targetError(s string, err error) error {
	var he *hostError
	if errors.As(err, &he) && he.addr {
		return wrap(fmt.Sprintf("%v: %q: %s", ErrInvalidTarget, s, he.msg), ErrInvalidTarget, ErrInvalidAddress)
	}
	return fmt.Errorf("%w: %q: %v", ErrInvalidTarget, s, err)
}

// parseHost validates a host name of this flavour (address or ONS name, no
// port) and returns it in canonical form: lower case, no trailing dot.
func (f Flavour) parseHost(s string) (string, Address, error) {
	name := strings.TrimSuffix(strings.ToLower(s), ".")
	suffix := "." + f.TLD
	switch {
	case name == "":
		return "", Address{}, &hostError{msg: "empty name"}
	case len(name) > maxNameLen:
		return "", Address{}, &hostError{msg: fmt.Sprintf("name is %d characters long, at most %d allowed", len(name), maxNameLen)}
	case !strings.HasSuffix(name, suffix):
		return "", Address{}, &hostError{msg: fmt.Sprintf("name does not end in %s", suffix)}
	}
	rest := strings.TrimSuffix(name, suffix)
	if rest == "" {
		return "", Address{}, &hostError{msg: fmt.Sprintf("no name before %s", suffix)}
	}
	labels := strings.Split(rest, ".")
	var addr Address
	last := len(labels) - 1
	if len(labels[last]) == encodedKeyLen {
		key, err := decodeKey(labels[last])
		if err != nil {
			return "", Address{}, &hostError{msg: fmt.Sprintf("%q has address length but is not an address: %v", labels[last]+suffix, err), addr: true}
		}
		addr = Address{key: key, tld: f.TLD, parsed: true}
	}
	for i, l := range labels {
		if i == last && !addr.IsZero() {
			continue
		}
		if err := checkLabel(l); err != nil {
			return "", Address{}, &hostError{msg: fmt.Sprintf("label %d (%q): %v", i+1, l, err)}
		}
	}
	return name, addr, nil
}

// checkLabel checks DNS label syntax: 1 to 63 of [a-z0-9-], no hyphen at
// either end. The label is already lower case.
func checkLabel(l string) error {
	if l == "" {
		return fmt.Errorf("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("%d characters, at most 63 allowed", len(l))
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("character %d (%q) is not a letter, digit or hyphen", i+1, c)
		}
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("starts or ends with a hyphen")
	}
	return nil
}
