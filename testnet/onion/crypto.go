package onion

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// NonceSize is the size of the per-packet nonce carried in the clear.
const NonceSize = chacha20poly1305.NonceSizeX

// Overhead is what one layer of encryption adds to a payload.
const Overhead = chacha20poly1305.Overhead

// Nonce is a per-packet XChaCha20-Poly1305 nonce. Each hop XORs it with a
// per-hop value before passing the packet on, so that neighbouring relays do
// not see the same nonce and cannot link a packet across hops by it.
type Nonce [NonceSize]byte

func randomNonce() Nonce {
	var n Nonce
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails on Linux.
	return n
}

func (n Nonce) xor(x Nonce) Nonce {
	for i := range n {
		n[i] ^= x[i]
	}
	return n
}

// hopKeys are the symmetric keys a node shares with one relay of its path.
type hopKeys struct {
	down  cipher.AEAD // node → terminal direction
	up    cipher.AEAD // terminal → node direction
	build cipher.AEAD // the relay's build record
	xor   Nonce
}

// deriveHopKeys turns an x25519 shared secret into a hop's keys. eph and
// relay are the two public keys, bound into the derivation.
func deriveHopKeys(shared, eph, relay []byte) (*hopKeys, error) {
	info := append(append([]byte("lokinet-emu hop v1"), eph...), relay...)
	okm, err := hkdf.Key(sha256.New, shared, nil, string(info), 3*chacha20poly1305.KeySize+NonceSize)
	if err != nil {
		return nil, fmt.Errorf("onion: derive hop keys: %w", err)
	}
	k := &hopKeys{}
	for i, dst := range []*cipher.AEAD{&k.down, &k.up, &k.build} {
		a, err := chacha20poly1305.NewX(okm[i*32 : (i+1)*32])
		if err != nil {
			return nil, fmt.Errorf("onion: hop cipher: %w", err)
		}
		*dst = a
	}
	copy(k.xor[:], okm[96:])
	return k, nil
}

// nodeHop derives the keys a node shares with relay, using a fresh ephemeral
// key whose public half it returns for the relay's build record.
func nodeHop(relay *ecdh.PublicKey) (*hopKeys, []byte, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("onion: ephemeral key: %w", err)
	}
	return nodeHopWith(eph, relay)
}

// nodeHopWith derives the keys a node shares with relay from its ephemeral
// key eph, and returns eph's public half for the relay's build record.
func nodeHopWith(eph *ecdh.PrivateKey, relay *ecdh.PublicKey) (*hopKeys, []byte, error) {
	shared, err := eph.ECDH(relay)
	if err != nil {
		return nil, nil, fmt.Errorf("onion: key agreement: %w", err)
	}
	pub := eph.PublicKey().Bytes()
	k, err := deriveHopKeys(shared, pub, relay.Bytes())
	return k, pub, err
}

// sealBuild seals the build record rec of path id for the hop that shares k,
// prefixed with the node's ephemeral public key eph and the nonce.
func sealBuild(k *hopKeys, eph []byte, nonce Nonce, id PathID, rec buildRecord) []byte {
	b := append(append([]byte{}, eph...), nonce[:]...)
	return k.build.Seal(b, nonce[:], rec.marshal(), id[:])
}

// relayHopKeys derives the keys a relay shares with the node whose ephemeral
// public key is eph.
func relayHopKeys(priv *ecdh.PrivateKey, eph []byte) (*hopKeys, error) {
	pub, err := ecdh.X25519().NewPublicKey(eph)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrMalformed, err)
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: key agreement: %w", ErrAuth, err)
	}
	return deriveHopKeys(shared, eph, priv.PublicKey().Bytes())
}

// sealDown wraps msg, the terminal hop's plaintext, in one layer per hop
// for a packet whose visible nonce is n: the first hop's layer outermost.
func sealDown(hops []*hopKeys, n Nonce, msg []byte) []byte {
	nonces := make([]Nonce, len(hops))
	for i := range hops {
		nonces[i] = n
		n = n.xor(hops[i].xor)
	}
	ct := msg
	for i := len(hops) - 1; i >= 0; i-- {
		ct = hops[i].down.Seal(nil, nonces[i][:], ct, nil)
	}
	return ct
}

// openUp removes every hop's layer from a packet that came up the path with
// visible nonce n, the first hop's layer outermost.
func openUp(hops []*hopKeys, n Nonce, ct []byte) ([]byte, error) {
	var err error
	for i := range hops {
		ct, err = hops[i].up.Open(ct[:0:0], n[:], ct, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: up layer %d", ErrAuth, i+1)
		}
		n = n.xor(hops[i].xor)
	}
	return ct, nil
}
