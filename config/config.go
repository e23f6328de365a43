// Package config reads and edits lokicall's configuration file: a TOML file
// holding contacts (name → .loki address), defaults for the command's flags
// and audio devices.
//
// The file lives at DefaultPath (os.UserConfigDir()/lokicall/config.toml)
// unless a path is given. A missing file is an empty configuration. Precedence
// (flags > environment > file > built-in defaults) is the command's business;
// this package only says what the file holds, as flag names and values
// (File.FlagValues).
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/lokicall/lokicall/lokinet"
)

// File is the configuration file's content. Every field is optional: an empty
// string or nil pointer means "not set", leaving the built-in default.
//
// An example:
//
//	log_level = "info"
//
//	[lokinet]
//	dns = "127.3.2.1:53"
//
//	[audio]
//	in = "device:USB Headset"
//	out = "device:USB Headset"
//	bitrate = 32000
//
//	[call]
//	ring_timeout = "30s"
//	media_timeout = "60s"
//
//	[listen]
//	accept = "contacts"
//
//	[privacy]
//	mode = "onion"
//
//	[tones]
//	plan = "uk"
//
//	[history]
//	enabled = false
//
//	[contacts]
//	alice = "xxxx…xxxx.loki"
type File struct {
	// LogLevel is --log-level: debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// JSON is --json.
	JSON *bool `toml:"json"`

	Lokinet Lokinet `toml:"lokinet"`
	Audio   Audio   `toml:"audio"`
	Call    Call    `toml:"call"`
	Listen  Listen  `toml:"listen"`
	Privacy Privacy `toml:"privacy"`
	Tones   Tones   `toml:"tones"`
	History History `toml:"history"`

	// Contacts maps a contact's name to its .loki address. Names are what
	// `lokicall call NAME` accepts and what incoming calls show.
	Contacts map[string]string `toml:"contacts"`

	unknown []string
}

// Lokinet is the [lokinet] table: overrides of Lokinet discovery.
type Lokinet struct {
	DNS   string `toml:"dns"`   // --lokinet-dns
	Iface string `toml:"iface"` // --lokinet-iface
}

// Audio is the [audio] table: devices and codec settings for calls.
type Audio struct {
	In      string `toml:"in"`      // --in, an audio spec such as "device:NAME"
	Out     string `toml:"out"`     // --out
	Bitrate *int   `toml:"bitrate"` // --bitrate in bit/s
	Frame   string `toml:"frame"`   // --frame, e.g. "20ms"
}

// Call is the [call] table: settings of every call, made or answered.
type Call struct {
	Duration    string `toml:"duration"`     // --duration, a Go duration ("2m")
	RingTimeout string `toml:"ring_timeout"` // --ring-timeout
	// MediaTimeout is --media-timeout: how long a call whose audio stopped
	// keeps trying to get it back before it ends ("media-lost").
	MediaTimeout string `toml:"media_timeout"`
}

// Listen is the [listen] table: settings of `lokicall listen`.
type Listen struct {
	Accept string `toml:"accept"` // --accept: ask, contacts, auto or never
	Port   *int   `toml:"port"`   // --port
	Calls  *int   `toml:"calls"`  // --calls
}

// Privacy is the [privacy] table: how calls connect. Only the mode exists
// today; the servers of the p2p and relay modes (STUN, TURN) belong here
// too, next to it, as they are added.
type Privacy struct {
	Mode           string   `toml:"mode"`            // --mode
	STUN           []string `toml:"stun"`            // --stun
	TURN           []string `toml:"turn"`            // --turn
	TURNUsername   string   `toml:"turn_username"`   // --turn-username
	TURNCredential string   `toml:"turn_credential"` // --turn-credential
	Fallback       string   `toml:"fallback"`        // --fallback
	// AllowIPExposure is the standing consent to the p2p and relay modes.
	AllowIPExposure *bool `toml:"allow_ip_exposure"` // --allow-ip-exposure
}

// Tones is the [tones] table: the call-progress tones played on a sound
// device (the ring, the ringback, the busy and declined tones).
type Tones struct {
	// Plan is --tones: itu (ITU-T E.180, 425 Hz), us, uk, or off.
	Plan string `toml:"plan"`
}

// History is the [history] table: the call history.
type History struct {
	// Enabled is --history: whether calls are recorded (default true).
	Enabled *bool `toml:"enabled"`
}

// Env is the environment variable that names the configuration file when no
// --config flag does.
const Env = "LOKICALL_CONFIG"

// DefaultPath returns os.UserConfigDir()/lokicall/config.toml.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return filepath.Join(dir, "lokicall", "config.toml"), nil
}

// Load reads the file at path. A file that does not exist is an empty
// configuration, not an error. Keys lokicall does not know are ignored (and
// kept when contacts are edited); UnknownKeys lists them. Contacts are
// validated: an error names the bad entry.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f, undecoded, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f.unknown = undecoded
	return f, nil
}

// UnknownKeys returns the keys of the loaded file that lokicall does not
// know, such as "audio.volume", so that the command can warn about typos.
func (f *File) UnknownKeys() []string { return f.unknown }

// parse decodes and validates a file's content, returning the keys it did
// not know.
func parse(data []byte) (*File, []string, error) {
	var f File
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	for name, addr := range f.Contacts {
		if err := checkContact(name, addr); err != nil {
			return nil, nil, err
		}
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		unknown = append(unknown, k.String())
	}
	return &f, unknown, nil
}

// FlagValues returns what the file sets, as flag names and the text the flag
// would be given on the command line.
func (f *File) FlagValues() map[string]string {
	m := map[string]string{}
	set := func(flag, v string) {
		if v != "" {
			m[flag] = v
		}
	}
	setInt := func(flag string, v *int) {
		if v != nil {
			m[flag] = strconv.Itoa(*v)
		}
	}
	set("log-level", f.LogLevel)
	if f.JSON != nil {
		m["json"] = strconv.FormatBool(*f.JSON)
	}
	set("lokinet-dns", f.Lokinet.DNS)
	set("lokinet-iface", f.Lokinet.Iface)
	set("in", f.Audio.In)
	set("out", f.Audio.Out)
	setInt("bitrate", f.Audio.Bitrate)
	set("frame", f.Audio.Frame)
	set("duration", f.Call.Duration)
	set("ring-timeout", f.Call.RingTimeout)
	set("media-timeout", f.Call.MediaTimeout)
	set("tones", f.Tones.Plan)
	set("accept", f.Listen.Accept)
	setInt("port", f.Listen.Port)
	setInt("calls", f.Listen.Calls)
	set("mode", f.Privacy.Mode)
	set("stun", strings.Join(f.Privacy.STUN, ","))
	set("turn", strings.Join(f.Privacy.TURN, ","))
	set("turn-username", f.Privacy.TURNUsername)
	set("turn-credential", f.Privacy.TURNCredential)
	set("fallback", f.Privacy.Fallback)
	if f.Privacy.AllowIPExposure != nil {
		m["allow-ip-exposure"] = strconv.FormatBool(*f.Privacy.AllowIPExposure)
	}
	if f.History.Enabled != nil {
		m["history"] = strconv.FormatBool(*f.History.Enabled)
	}
	return m
}

// Contact is one entry of the contact list.
type Contact struct {
	Name    string
	Address lokinet.Address
}

// ContactList returns the contacts sorted by name.
func (f *File) ContactList() []Contact {
	var out []Contact
	for name, s := range f.Contacts {
		a, err := lokinet.ParseAddress(s)
		if err != nil {
			continue // Load has validated them; a File built in code may not be.
		}
		out = append(out, Contact{Name: name, Address: a})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the contact called name (names are matched exactly, then
// without regard to case).
func (f *File) Lookup(name string) (lokinet.Address, bool) {
	if s, ok := f.Contacts[name]; ok {
		a, err := lokinet.ParseAddress(s)
		return a, err == nil
	}
	for n, s := range f.Contacts {
		if strings.EqualFold(n, name) {
			a, err := lokinet.ParseAddress(s)
			return a, err == nil
		}
	}
	return lokinet.Address{}, false
}

// NameOf returns the name of the contact with address a; with several, the
// first in name order.
func (f *File) NameOf(a lokinet.Address) (string, bool) {
	for _, c := range f.ContactList() {
		if c.Address == a {
			return c.Name, true
		}
	}
	return "", false
}

// checkContact validates one contact entry.
func checkContact(name, addr string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if _, err := lokinet.ParseAddress(addr); err != nil {
		return fmt.Errorf("%w: contact %q: %w", ErrBadContact, name, err)
	}
	return nil
}

// CheckName reports whether name can be a contact's name: not empty, UTF-8
// text without control characters, and not itself a .loki name or address,
// so that `lokicall call NAME` is never ambiguous.
func CheckName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: empty name", ErrBadContact)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: name %q has control characters", ErrBadContact, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name %q is not UTF-8 text", ErrBadContact, name)
	case strings.HasSuffix(strings.ToLower(name), ".loki"), strings.Contains(name, ":"):
		return fmt.Errorf("%w: name %q looks like an address; pick a plain name", ErrBadContact, name)
	}
	return nil
}
