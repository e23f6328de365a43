package onion

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// DefaultRelayTTL is how long the directory lists a relay after its last
// heartbeat. Relays beat every DefaultHeartbeat, so three missed beats take a
// relay out of the listing.
const (
	DefaultRelayTTL  = time.Second
	DefaultHeartbeat = 300 * time.Millisecond
)

// RelayInfo is a relay as the directory lists it.
type RelayInfo struct {
	// Key is the relay's x25519 public key.
	Key []byte `json:"key"`
	// Addr is where the relay receives UDP.
	Addr netip.AddrPort `json:"addr"`
}

// MarshalText encodes a tag as hex.
func (t Tag) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(t[:])), nil }

// UnmarshalText decodes a hex tag.
func (t *Tag) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(t) {
		return fmt.Errorf("%w: tag of %d hex digits", ErrMalformed, len(b))
	}
	_, err := hex.Decode(t[:], b)
	if err != nil {
		return fmt.Errorf("%w: tag: %w", ErrMalformed, err)
	}
	return nil
}

// Intro is a node's introduction: where packets for it enter the network.
// It is signed with the node's ed25519 identity, whose public key is the
// address, so neither the directory nor a relay can forge one.
type Intro struct {
	// Address is the node's address, "<z-base32>.loki".
	Address string `json:"address"`
	// Relay is the introduction relay, the last hop of the node's path.
	Relay netip.AddrPort `json:"relay"`
	// Tag names the node's path at the introduction relay.
	Tag Tag `json:"tag"`
	// Key is the node's x25519 key for end-to-end encryption.
	Key []byte `json:"key"`
	// Expires is when the introduction stops being valid.
	Expires time.Time `json:"expires"`
	// Sig is the ed25519 signature over all of the above.
	Sig []byte `json:"sig"`
}

func (in *Intro) signedBytes() []byte {
	var b bytes.Buffer
	b.WriteString("lokinet-emu intro v1\x00")
	b.WriteString(in.Address)
	b.WriteByte(0)
	b.WriteString(in.Relay.String())
	b.WriteByte(0)
	b.Write(in.Tag[:])
	b.Write(in.Key)
	b.WriteString(in.Expires.UTC().Format(time.RFC3339Nano))
	return b.Bytes()
}

// Sign fills in Address and Sig from the node's identity.
func (in *Intro) Sign(id ed25519.PrivateKey) {
	in.Address = lokinet.AddressFromKey(id.Public().(ed25519.PublicKey)).String()
	in.Sig = ed25519.Sign(id, in.signedBytes())
}

// Verify checks the signature against the address and the expiry against now.
func (in *Intro) Verify(now time.Time) error {
	addr, err := lokinet.ParseAddress(in.Address)
	if err != nil {
		return fmt.Errorf("onion: intro: %w", err)
	}
	if !ed25519.Verify(addr.PublicKey(), in.signedBytes(), in.Sig) {
		return fmt.Errorf("%w: intro for %s", ErrAuth, in.Address)
	}
	if now.After(in.Expires) {
		return fmt.Errorf("%w: intro for %s expired at %s", ErrAuth, in.Address, in.Expires)
	}
	return nil
}

// DirectoryConfig configures a Directory. The zero value works.
type DirectoryConfig struct {
	// RelayTTL is how long a relay stays listed after a heartbeat;
	// DefaultRelayTTL if zero.
	RelayTTL time.Duration
	// Logger receives the directory's log; none if nil.
	Logger *slog.Logger
}

// Directory is the bootstrap of the emulated network, served over HTTP:
// relays register and beat, nodes publish and look up introductions. It
// stands in for Lokinet's bootstrap files and DHT.
type Directory struct {
	ttl    time.Duration
	log    *slog.Logger
	mux    *http.ServeMux
	mu     sync.Mutex
	relays map[netip.AddrPort]relayEntry
	intros map[string]Intro
}

type relayEntry struct {
	info RelayInfo
	seen time.Time
}

// NewDirectory returns an empty directory.
func NewDirectory(cfg DirectoryConfig) *Directory {
	d := &Directory{
		ttl:    cfg.RelayTTL,
		log:    cfg.Logger,
		mux:    http.NewServeMux(),
		relays: make(map[netip.AddrPort]relayEntry),
		intros: make(map[string]Intro),
	}
	if d.ttl <= 0 {
		d.ttl = DefaultRelayTTL
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.mux.HandleFunc("POST /v1/relays", d.heartbeat)
	d.mux.HandleFunc("GET /v1/relays", d.listRelays)
	d.mux.HandleFunc("POST /v1/intros", d.publish)
	d.mux.HandleFunc("GET /v1/intros/{address}", d.lookup)
	return d
}

// ServeHTTP implements http.Handler.
func (d *Directory) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

func (d *Directory) heartbeat(w http.ResponseWriter, r *http.Request) {
	var info RelayInfo
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&info); err != nil || !info.Addr.IsValid() || len(info.Key) != pubLen {
		http.Error(w, "bad relay info", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	_, known := d.relays[info.Addr]
	d.relays[info.Addr] = relayEntry{info: info, seen: time.Now()}
	d.mu.Unlock()
	if !known {
		d.log.Info("relay registered", "addr", info.Addr)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *Directory) listRelays(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	d.mu.Lock()
	list := make([]RelayInfo, 0, len(d.relays))
	for a, e := range d.relays {
		if now.Sub(e.seen) > d.ttl {
			delete(d.relays, a)
			d.log.Warn("relay expired", "addr", a, "last_heartbeat", e.seen.Format(time.RFC3339Nano))
			continue
		}
		list = append(list, e.info)
	}
	d.mu.Unlock()
	writeJSON(w, list)
}

func (d *Directory) publish(w http.ResponseWriter, r *http.Request) {
	var in Intro
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
		http.Error(w, "bad intro", http.StatusBadRequest)
		return
	}
	if err := in.Verify(time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	d.mu.Lock()
	d.intros[in.Address] = in
	d.mu.Unlock()
	d.log.Info("intro published", "address", in.Address, "relay", in.Relay)
	w.WriteHeader(http.StatusNoContent)
}

func (d *Directory) lookup(w http.ResponseWriter, r *http.Request) {
	addr := strings.ToLower(strings.TrimSuffix(r.PathValue("address"), "."))
	d.mu.Lock()
	in, ok := d.intros[addr]
	d.mu.Unlock()
	if !ok || time.Now().After(in.Expires) {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, in)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client went away
}

// DirectoryClient talks to a Directory. Its zero value is unusable: URL must
// be set; HTTP defaults to a client with a 5 s timeout.
type DirectoryClient struct {
	// URL is the directory's base URL, such as "http://10.89.0.2:8080".
	URL string
	// HTTP is the client used; a default with a short timeout if nil.
	HTTP *http.Client
}

var defaultHTTP = &http.Client{Timeout: 5 * time.Second}

func (c *DirectoryClient) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("onion: directory %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, body)
	if err != nil {
		return 0, fmt.Errorf("onion: directory %s %s: %w", method, path, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("onion: directory %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, fmt.Errorf("onion: directory %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("onion: directory %s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Heartbeat registers the relay or refreshes its registration.
func (c *DirectoryClient) Heartbeat(ctx context.Context, info RelayInfo) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/relays", info, nil)
	return err
}

// Relays lists the relays that beat recently.
func (c *DirectoryClient) Relays(ctx context.Context) ([]RelayInfo, error) {
	var list []RelayInfo
	_, err := c.do(ctx, http.MethodGet, "/v1/relays", nil, &list)
	return list, err
}

// Publish stores a signed introduction.
func (c *DirectoryClient) Publish(ctx context.Context, in Intro) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/intros", in, nil)
	return err
}

// Lookup returns the verified introduction of addr, or an error wrapping
// ErrUnknownAddress if the directory has none.
func (c *DirectoryClient) Lookup(ctx context.Context, addr lokinet.Address) (Intro, error) {
	var in Intro
	code, err := c.do(ctx, http.MethodGet, "/v1/intros/"+addr.String(), nil, &in)
	if code == http.StatusNotFound {
		return Intro{}, fmt.Errorf("%w: %s", ErrUnknownAddress, addr)
	}
	if err != nil {
		return Intro{}, err
	}
	if in.Address != addr.String() {
		return Intro{}, fmt.Errorf("%w: asked for %s, got intro of %s", ErrAuth, addr, in.Address)
	}
	if err := in.Verify(time.Now()); err != nil {
		return Intro{}, err
	}
	return in, nil
}
