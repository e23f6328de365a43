package config

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/lokicall/lokicall/lokinet"
)

// fuzzAddr returns the address of the fixed public key filled with b.
func fuzzAddr(b byte) lokinet.Address {
	return lokinet.AddressFromKey(bytes.Repeat([]byte{b}, 32))
}

// fuzzSeeds returns configuration files to start fuzzing from: a full one,
// an empty one, layouts the contact editor must cope with or refuse, and
// broken ones.
func fuzzSeeds() []string {
	a, b, c := fuzzAddr(1).String(), fuzzAddr(2).String(), fuzzAddr(3).String()
	full := `# lokicall settings
log_level = "debug"
json = false
future_key = 1 # from a newer lokicall

[lokinet]
dns = "127.3.2.1:53"
iface = "lokitun0"

[audio]
in = "device:USB Headset"
out = "wav:/tmp/out.wav"
bitrate = 32000
frame = "20ms"

[call]
duration = "2m"
ring_timeout = "30s"

[listen]
accept = "contacts"
port = 7787
calls = 3

[privacy]
mode = "relay"
stun = ["stun:stun.example.org:3478", "stun:[2001:db8::1]:3478"]
turn = ["turn:turn.example.org:3478?transport=udp"]
turn_username = "user"
turn_credential = "secret"
fallback = "onion"
allow_ip_exposure = true

[contacts]
# friends
alice = "` + a + `"
"bob smith" = "` + strings.ToUpper(b) + `."
'carol' = '  ` + c + `  '

[audio.extra]
volume = 3
`
	return []string{
		full,
		"",
		"\n\n# only a comment",
		"[contacts]\n",
		"log_level = \"info\"\r\n[contacts]\r\nalice = \"" + a + "\"\r\n",
		"[ \"contacts\" ] # people\nalice = \"" + a + "\"\n\n\n[audio]\nin = \"device\"",
		"[Contacts]\nalice = \"" + a + "\"\n",
		"contacts = { alice = \"" + a + "\" }\n",
		"contacts.alice = \"" + a + "\"\n",
		"[contacts]\nalice = \"\"\"\n" + a + "\n\"\"\"\n",
		"log_level = \"\"\"\n[contacts]\nalice = \"" + a + "\"\n\"\"\"\n[contacts]\nbob = \"" + b + "\"\n",
		"[contacts\n",
		"[contacts]\nbob = \"bob.example\"\n",
		"[contacts]\n\"x.loki\" = \"" + a + "\"\n",
		"[contacts]\n\"\" = \"" + a + "\"\n",
		"[contacts]\n\"a\\tb\" = \"" + a + "\"\n",
		"[contacts]\nalice = 1\n",
		"[contacts.work]\nalice = \"" + a + "\"\n",
		"[audio]\nbitrate = \"fast\"\n",
		"[privacy]\nstun = \"stun:x\"\n",
		"json = \"yes\"\n",
	}
}

// FuzzParse checks that parse never panics; that what it accepts holds only
// valid contacts, every one listed and found by name, and gives flag values;
// and that what it refuses is a syntax error or an error naming a bad
// contact.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, unknown, err := parse(data)
		if err != nil {
			if file != nil || unknown != nil {
				t.Fatalf("parse(%q) failed (%v) but returned %+v, %q", data, err, file, unknown)
			}
			checkParseError(t, data, err)
			return
		}
		for name, addr := range file.Contacts {
			if err := CheckName(name); err != nil {
				t.Fatalf("parse(%q) accepted contact name %q: %v", data, name, err)
			}
			a, err := lokinet.ParseAddress(addr)
			if err != nil {
				t.Fatalf("parse(%q) accepted contact %q = %q: %v", data, name, addr, err)
			}
			if got, ok := file.Lookup(name); !ok || got != a {
				t.Fatalf("parse(%q): Lookup(%q) = %v, %v; want %v", data, name, got, ok, a)
			}
		}
		if n := len(file.ContactList()); n != len(file.Contacts) {
			t.Fatalf("parse(%q): ContactList has %d of %d contacts", data, n, len(file.Contacts))
		}
		for flag, v := range file.FlagValues() {
			if v == "" {
				t.Fatalf("parse(%q): FlagValues sets --%s to an empty value", data, flag)
			}
		}
	})
}

// checkParseError checks parse's error for data: a syntax error, or the
// error of one of the contacts that fail checkContact, naming it.
func checkParseError(t *testing.T, data []byte, err error) {
	t.Helper()
	var raw File
	if _, derr := toml.Decode(string(data), &raw); derr != nil {
		if !errors.Is(err, ErrSyntax) || errors.Is(err, ErrBadContact) {
			t.Fatalf("parse(%q) = %v for a file that does not decode (%v), want ErrSyntax", data, err, derr)
		}
		return
	}
	if !errors.Is(err, ErrBadContact) || errors.Is(err, ErrSyntax) {
		t.Fatalf("parse(%q) = %v for a file that decodes, want ErrBadContact", data, err)
	}
	for name, addr := range raw.Contacts {
		if checkContact(name, addr) == nil {
			continue
		}
		if strings.Contains(err.Error(), strconv.Quote(name)) ||
			strings.TrimSpace(name) == "" && strings.Contains(err.Error(), "empty name") {
			return
		}
	}
	t.Fatalf("parse(%q) = %v names no bad contact of %q", data, err, raw.Contacts)
}

// FuzzEditKeepsFile checks the contact editor on every file Load accepts:
// RemoveContact of a name that is not a contact gives ErrNoContact and
// leaves the file as it was; AddContact either refuses (a bad name, or a
// layout it cannot edit, which an empty file is not) and leaves the file as
// it was, or sets just that contact, keeping the other contacts and
// everything else the file holds; and RemoveContact of a contact it added
// gives back the original content.
func FuzzEditKeepsFile(f *testing.F) {
	names := []string{"dave", "bob smith", "Émile \"E\" O'Neil", "", "x.loki"}
	for i, s := range fuzzSeeds() {
		f.Add([]byte(s), names[i%len(names)])
		f.Add([]byte(s), "alice") // in most seeds already
	}
	addr := fuzzAddr(9)
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		before, err := Load(path)
		if _, _, perr := parse(data); (err == nil) != (perr == nil) ||
			err != nil && (errors.Is(err, ErrSyntax) != errors.Is(perr, ErrSyntax) || !strings.Contains(err.Error(), path)) {
			t.Fatalf("Load(%q) = %v, parse = %v", data, err, perr)
		}
		if err != nil {
			return
		}
		unchanged := func(op string, err error) {
			t.Helper()
			if now, _ := os.ReadFile(path); !bytes.Equal(now, data) {
				t.Fatalf("%s(%q) failed (%v) but changed %q to %q", op, name, err, data, now)
			}
		}
		_, had := before.Contacts[name]
		if !had {
			err := RemoveContact(path, name)
			if !errors.Is(err, ErrNoContact) {
				t.Fatalf("RemoveContact(%q) on %q = %v, want ErrNoContact", name, data, err)
			}
			unchanged("RemoveContact", err)
		}
		replaced, err := AddContact(path, name, addr)
		if leftover, _ := filepath.Glob(filepath.Join(dir, ".config-*")); len(leftover) != 0 {
			t.Fatalf("AddContact(%q) on %q left %q", name, data, leftover)
		}
		if err != nil {
			want := ErrLayout
			if CheckName(name) != nil {
				want = ErrBadContact
			} else if len(bytes.TrimSpace(data)) == 0 {
				t.Fatalf("AddContact(%q) on an empty file: %v", name, err)
			}
			if !errors.Is(err, want) {
				t.Fatalf("AddContact(%q) on %q: %v, want %v", name, data, err, want)
			}
			unchanged("AddContact", err)
			return
		}
		if err := CheckName(name); err != nil {
			t.Fatalf("AddContact accepted name %q: %v", name, err)
		}
		after := loadEdited(t, path, data)
		want := maps.Clone(before.Contacts)
		if want == nil {
			want = map[string]string{}
		}
		want[name] = addr.String()
		if replaced != had || !maps.Equal(after.Contacts, want) {
			t.Fatalf("AddContact(%q) on %q: replaced %v, contacts %q; want %v, %q", name, data, replaced, after.Contacts, had, want)
		}
		checkKept(t, data, path, name)
		if had {
			return
		}
		if err := RemoveContact(path, name); err != nil {
			t.Fatalf("RemoveContact(%q) after adding it to %q: %v", name, data, err)
		}
		after = loadEdited(t, path, data)
		if !maps.Equal(after.Contacts, before.Contacts) {
			t.Fatalf("adding and removing %q on %q gave contacts %q, want %q", name, data, after.Contacts, before.Contacts)
		}
		checkKept(t, data, path, name)
	})
}

// loadEdited loads the file at path after an edit of orig.
func loadEdited(t *testing.T, path string, orig []byte) *File {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		now, _ := os.ReadFile(path)
		t.Fatalf("edit of %q gave %q, which does not load: %v", orig, now, err)
	}
	return f
}

// checkKept checks that the file at path, an edit of contact name in orig,
// holds what orig does but for that contact. The editor writes LF line ends,
// and TOML lets a parser normalize those in multi-line strings, so orig is
// compared with CRLF made LF.
func checkKept(t *testing.T, orig []byte, path, name string) {
	t.Helper()
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, a := otherContent(t, strings.ReplaceAll(string(orig), "\r\n", "\n"), name), otherContent(t, string(now), name)
	if !sameValue(b, a) {
		t.Fatalf("editing contact %q changed the rest of %q: %v, now %q: %v", name, orig, b, now, a)
	}
}

// otherContent decodes a file's text, leaving out contact name and empty
// [contacts] tables (matched regardless of case, as parse does).
func otherContent(t *testing.T, text, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if _, err := toml.Decode(text, &m); err != nil {
		t.Fatalf("decoding %q: %v", text, err)
	}
	for k, v := range m {
		if c, ok := v.(map[string]any); ok && strings.EqualFold(k, "contacts") {
			delete(c, name)
			if len(c) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}

// sameValue reports whether two decoded TOML values are equal: times at the
// same instant and offset, NaN equal to NaN.
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		b, ok := b.(time.Time)
		return ok && a.Equal(b) && a.Format(time.RFC3339Nano) == b.Format(time.RFC3339Nano)
	case float64:
		b, ok := b.(float64)
		return ok && (a == b || a != a && b != b)
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() == reflect.Slice {
		if va.Type() != vb.Type() || va.Len() != vb.Len() {
			return false
		}
		for i := range va.Len() {
			if !sameValue(va.Index(i).Interface(), vb.Index(i).Interface()) {
				return false
			}
		}
		return true
	}
	return a == b
}
