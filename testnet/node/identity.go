package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateIdentity reads the node's ed25519 identity from path, a file
// holding the 32-byte seed in hex, or creates the file with a fresh key if
// it does not exist. The address is lokinet.AddressFromKey of the public
// half, exactly as Lokinet derives it, and stays the same across restarts.
func LoadOrCreateIdentity(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("node: identity %s: not a %d-byte hex seed", path, ed25519.SeedSize)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	case errors.Is(err, fs.ErrNotExist):
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("node: generate identity: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("node: identity: %w", err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key.Seed())+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("node: identity: %w", err)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("node: identity: %w", err)
	}
}
