package lokinet

import "errors"

// ErrInvalidAddress reports text that is not a valid node address.
var ErrInvalidAddress = errors.New("lokinet: invalid address")

// ErrInvalidTarget reports text that is not a valid call target
// (ADDRESS[:PORT] or NAME.loki[:PORT]).
var ErrInvalidTarget = errors.New("lokinet: invalid target")

// ErrNotFound reports a name or IP that Lokinet's DNS says does not exist
// (NXDOMAIN): a valid but unknown address, an unregistered ONS name, or an IP
// outside the node's mappings.
var ErrNotFound = errors.New("lokinet: not found")

// ErrUnreachable reports a lookup that got no usable answer (SERVFAIL or
// silence) within its whole time budget.
var ErrUnreachable = errors.New("lokinet: unreachable")

// ErrNoDaemon reports that no Lokinet DNS server answers at the configured
// address: nothing listens there, or it never answers even local questions.
var ErrNoDaemon = errors.New("lokinet: no Lokinet DNS answering")

// ErrBadReply reports a DNS reply that is not what Lokinet would send: wrong
// id or question, an unexpected rcode, or records of the wrong shape.
var ErrBadReply = errors.New("lokinet: bad DNS reply")

// ErrNoInterface reports that no usable network interface holds the node's
// Lokinet IP, or that the interface named as an override does not.
var ErrNoInterface = errors.New("lokinet: no interface")

// wrapError is an error whose message is written in full by the caller and
// which wraps a sentinel and, optionally, an underlying cause. It keeps
// messages readable ("no Lokinet DNS answering at 127.3.2.1:53: is lokinet
// running?") while errors.Is still finds both.
type wrapError struct {
	msg  string
	errs []error
}

func (e *wrapError) Error() string   { return e.msg }
func (e *wrapError) Unwrap() []error { return e.errs }

// wrap returns an error with message msg that wraps sentinel and cause (nil
// causes are left out).
func wrap(msg string, sentinel, cause error) error {
	e := &wrapError{msg: msg, errs: []error{sentinel}}
	if cause != nil {
		e.errs = append(e.errs, cause)
	}
	return e
}

// ErrBadConfig reports a setting the client cannot use, such as a DNS address
// that is not an IP address and port.
var ErrBadConfig = errors.New("lokinet: bad configuration")
