package lokinet

import "errors"

// ErrInvalidAddress reports text that is not a valid node address.
var ErrInvalidAddress = errors.New("lokinet: invalid address")
