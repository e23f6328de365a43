package onion

import (
	"bytes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/lokicall/lokicall/lokinet"
)

// End-to-end message types, inside the end-to-end encryption.
const (
	e2eOpen byte = 0x01 // open a session; the receiver answers e2eAck
	e2eAck  byte = 0x02
	e2eData byte = 0x03 // an IP packet
)

const (
	certLen   = ed25519.SignatureSize
	e2eHeader = ed25519.PublicKeySize + pubLen + certLen + NonceSize
)

// certBytes is what a node signs with its ed25519 identity to bind its
// x25519 end-to-end key to its address.
func certBytes(x []byte) []byte { return append([]byte("lokinet-emu xkey v1\x00"), x...) }

// e2eKey derives the key two nodes share from their x25519 keys.
func e2eKey(own *ecdh.PrivateKey, peer *ecdh.PublicKey) (cipher.AEAD, error) {
	shared, err := own.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: e2e key agreement: %w", ErrAuth, err)
	}
	a, b := own.PublicKey().Bytes(), peer.Bytes()
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	info := append(append([]byte("lokinet-emu e2e v1"), a...), b...)
	k, err := hkdf.Key(sha256.New, shared, nil, string(info), chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("onion: e2e key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, fmt.Errorf("onion: e2e cipher: %w", err)
	}
	return aead, nil
}

// e2eMessage is the plaintext of an end-to-end message.
type e2eMessage struct {
	typ   byte
	relay netip.AddrPort // the sender's introduction, for replies
	tag   Tag
	body  []byte
}

func (m e2eMessage) marshal() []byte {
	b := make([]byte, 0, 32+len(m.body))
	b = append(b, m.typ)
	b = appendAddrPort(b, m.relay)
	b = append(b, m.tag[:]...)
	return append(b, m.body...)
}

func parseE2E(b []byte) (e2eMessage, error) {
	var m e2eMessage
	if len(b) < 1 {
		return m, fmt.Errorf("%w: empty e2e message", ErrMalformed)
	}
	m.typ = b[0]
	ap, rest, err := readAddrPort(b[1:])
	if err != nil {
		return m, err
	}
	if len(rest) < idLen {
		return m, fmt.Errorf("%w: short e2e message", ErrMalformed)
	}
	m.relay = ap
	copy(m.tag[:], rest)
	m.body = rest[idLen:]
	return m, nil
}

// sealE2E frames msg for the peer: sender's ed25519 key, x25519 key and
// certificate, then the message sealed under the two nodes' shared key,
// which authenticates the sender. wrapE2E then hides the whole frame.
func sealE2E(id ed25519.PrivateKey, x, cert []byte, aead cipher.AEAD, msg []byte) []byte {
	n := randomNonce()
	b := make([]byte, 0, e2eHeader+len(msg)+Overhead)
	b = append(b, id.Public().(ed25519.PublicKey)...)
	b = append(b, x...)
	b = append(b, cert...)
	b = append(b, n[:]...)
	return aead.Seal(b, n[:], msg, b[:ed25519.PublicKeySize+pubLen])
}

// e2eFrame is a received frame before decryption.
type e2eFrame struct {
	from  lokinet.Address
	x     []byte
	cert  []byte
	nonce []byte
	ad    []byte
	ct    []byte
}

func parseE2EFrame(b []byte) (e2eFrame, error) {
	if len(b) < e2eHeader+Overhead {
		return e2eFrame{}, fmt.Errorf("%w: short e2e frame", ErrMalformed)
	}
	ed := ed25519.PublicKey(b[:ed25519.PublicKeySize])
	f := e2eFrame{from: lokinet.AddressFromKey(ed)}
	o := ed25519.PublicKeySize
	f.x = b[o : o+pubLen]
	f.ad = b[:o+pubLen]
	o += pubLen
	f.cert = b[o : o+certLen]
	o += certLen
	f.nonce = b[o : o+NonceSize]
	f.ct = b[o+NonceSize:]
	return f, nil
}

// verifyCert checks that the frame's x25519 key is certified by its sender.
func (f e2eFrame) verifyCert() error {
	if !ed25519.Verify(f.from.PublicKey(), certBytes(f.x), f.cert) {
		return fmt.Errorf("%w: e2e key certificate of %s", ErrAuth, f.from)
	}
	return nil
}

// wrapE2E hides a frame, sender's identity included, from everyone but the
// recipient: a fresh x25519 key, then the frame sealed under that key's
// agreement with the recipient's end-to-end key. The terminal relay that
// sends it on and the introduction relay that receives it see only the
// ephemeral key and ciphertext.
func wrapE2E(to *ecdh.PublicKey, frame []byte) ([]byte, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("onion: e2e ephemeral key: %w", err)
	}
	aead, err := wrapKey(eph, to, eph.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	n := randomNonce()
	b := make([]byte, 0, pubLen+NonceSize+len(frame)+Overhead)
	b = append(b, eph.PublicKey().Bytes()...)
	b = append(b, n[:]...)
	return aead.Seal(b, n[:], frame, b[:pubLen]), nil
}

// unwrapE2E undoes wrapE2E with the recipient's key.
func unwrapE2E(own *ecdh.PrivateKey, b []byte) ([]byte, error) {
	if len(b) < pubLen+NonceSize+Overhead {
		return nil, fmt.Errorf("%w: short e2e wrapper", ErrMalformed)
	}
	eph, err := ecdh.X25519().NewPublicKey(b[:pubLen])
	if err != nil {
		return nil, fmt.Errorf("%w: e2e ephemeral key: %w", ErrMalformed, err)
	}
	aead, err := wrapKey(own, eph, b[:pubLen])
	if err != nil {
		return nil, err
	}
	frame, err := aead.Open(nil, b[pubLen:pubLen+NonceSize], b[pubLen+NonceSize:], b[:pubLen])
	if err != nil {
		return nil, fmt.Errorf("%w: e2e wrapper", ErrAuth)
	}
	return frame, nil
}

func wrapKey(priv *ecdh.PrivateKey, pub *ecdh.PublicKey, eph []byte) (cipher.AEAD, error) {
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: e2e wrapper key agreement: %w", ErrAuth, err)
	}
	k, err := hkdf.Key(sha256.New, shared, nil, "lokinet-emu e2e wrap v1"+string(eph), chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("onion: e2e wrapper key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, fmt.Errorf("onion: e2e wrapper cipher: %w", err)
	}
	return aead, nil
}
