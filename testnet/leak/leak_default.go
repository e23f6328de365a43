//go:build !linux

package leak

// Install is not supported off Linux.
func Install(Config) error { return ErrUnsupported }

// Read is not supported off Linux.
func Read(Config) (Counts, error) { return Counts{}, ErrUnsupported }

// Remove is not supported off Linux.
func Remove(Config) error { return ErrUnsupported }
