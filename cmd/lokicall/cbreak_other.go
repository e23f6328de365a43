//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "errors"

// cbreak is not available here: keys are not read, calls still work.
func cbreak(int) (func(), error) {
	return nil, errors.New("single-key input is not supported on this system")
}
