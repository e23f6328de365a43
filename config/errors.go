package config

import "errors"

var (
	// ErrSyntax reports a configuration file that is not valid TOML or does
	// not fit File.
	ErrSyntax = errors.New("config: bad syntax")
	// ErrBadContact reports a contact whose name or address is not valid.
	ErrBadContact = errors.New("config: bad contact")
	// ErrNoContact reports a contact name that is not in the list.
	ErrNoContact = errors.New("config: no such contact")
	// ErrLayout reports a file whose contacts are written in a form the
	// editor cannot change without losing content (an inline table, dotted
	// keys); edit it by hand.
	ErrLayout = errors.New("config: cannot edit contacts in this file's layout")
)
