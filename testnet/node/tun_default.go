//go:build !linux

package node

import (
	"fmt"
	"net/netip"
	"os"
)

func openTUN(name string, _ netip.Prefix, _ int) (*os.File, error) {
	return nil, fmt.Errorf("%w: TUN interface %s", ErrUnsupported, name)
}
