package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lokicall/lokicall/config"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMissingFileIsEmpty(t *testing.T) {
	f, err := config.Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.FlagValues()) != 0 || len(f.Contacts) != 0 {
		t.Errorf("missing file gave %+v", f)
	}
}

func TestLoadFlagValues(t *testing.T) {
	alice := lokinettest.RandomAddress()
	p := write(t, `log_level = "info"
json = true
[lokinet]
dns = "127.0.0.1:5353"
[audio]
in = "device:USB"
bitrate = 24000
[call]
ring_timeout = "30s"
[listen]
accept = "contacts"
calls = 0
[privacy]
mode = "onion"
[tones]
plan = "off"
[contacts]
alice = "`+alice.String()+`"
`)
	f, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"log-level": "info", "json": "true", "lokinet-dns": "127.0.0.1:5353", "in": "device:USB",
		"bitrate": "24000", "ring-timeout": "30s", "accept": "contacts", "calls": "0", "mode": "onion",
		"tones": "off",
	}
	got := f.FlagValues()
	if len(got) != len(want) {
		t.Errorf("FlagValues = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("flag %s = %q, want %q", k, got[k], v)
		}
	}
	if a, ok := f.Lookup("ALICE"); !ok || a != alice {
		t.Errorf("Lookup(ALICE) = %v, %v", a, ok)
	}
	if n, ok := f.NameOf(alice); !ok || n != "alice" {
		t.Errorf("NameOf = %q, %v", n, ok)
	}
}

func TestLoadRejectsBadContent(t *testing.T) {
	for name, text := range map[string]string{
		"syntax":       "[contacts\n",
		"bad address":  "[contacts]\nbob = \"bob.example\"\n",
		"address name": "[contacts]\n\"x.loki\" = \"" + lokinettest.RandomAddress().String() + "\"\n",
		"wrong type":   "[audio]\nbitrate = \"fast\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := config.Load(write(t, text)); err == nil {
				t.Errorf("Load accepted %q", text)
			}
		})
	}
}

func TestContactsEditKeepsOtherContent(t *testing.T) {
	alice, bob, carol := lokinettest.RandomAddress(), lokinettest.RandomAddress(), lokinettest.RandomAddress()
	orig := `# my settings
future_key = 1 # a key from a newer lokicall

[contacts]
# friends
alice = "` + alice.String() + `"

[audio]
in = "device"
`
	p := write(t, orig)
	if replaced, err := config.AddContact(p, "bob smith", bob); err != nil || replaced {
		t.Fatalf("add: %v, replaced %v", err, replaced)
	}
	if replaced, err := config.AddContact(p, "alice", carol); err != nil || !replaced {
		t.Fatalf("replace: %v, replaced %v", err, replaced)
	}
	data, _ := os.ReadFile(p)
	text := string(data)
	for _, keep := range []string{"# my settings", "future_key = 1 # a key", "# friends", "[audio]\nin = \"device\""} {
		if !strings.Contains(text, keep) {
			t.Errorf("edit lost %q:\n%s", keep, text)
		}
	}
	f, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Contacts["alice"] != carol.String() || f.Contacts["bob smith"] != bob.String() || f.Audio.In != "device" {
		t.Errorf("after edits: %+v", f)
	}
	if err := config.RemoveContact(p, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := config.RemoveContact(p, "alice"); !errors.Is(err, config.ErrNoContact) {
		t.Errorf("second remove: %v, want ErrNoContact", err)
	}
	f, err = config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Contacts["alice"]; ok || len(f.Contacts) != 1 {
		t.Errorf("after remove: %v", f.Contacts)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".config-*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

func TestAddContactCreatesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "config.toml")
	a := lokinettest.RandomAddress()
	if _, err := config.AddContact(p, "alice", a); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	f, err := config.Load(p)
	if err != nil || f.Contacts["alice"] != a.String() {
		t.Errorf("Load = %+v, %v", f, err)
	}
}

func TestEditRefusesLayoutItCannotChange(t *testing.T) {
	orig := "contacts = { alice = \"" + lokinettest.RandomAddress().String() + "\" }\n"
	p := write(t, orig)
	if _, err := config.AddContact(p, "bob", lokinettest.RandomAddress()); !errors.Is(err, config.ErrLayout) {
		t.Errorf("AddContact on an inline table: %v, want ErrLayout", err)
	}
	if data, _ := os.ReadFile(p); string(data) != orig {
		t.Errorf("file changed:\n%s", data)
	}
}

func TestAddContactRejectsBadNames(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	for _, name := range []string{"", "  ", "bob.loki", "a:1", "x\ny", "\xff"} {
		if _, err := config.AddContact(p, name, lokinettest.RandomAddress()); !errors.Is(err, config.ErrBadContact) {
			t.Errorf("AddContact(%q) = %v, want ErrBadContact", name, err)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	f, err := config.Load(write(t, "colour = \"red\"\n[audio]\nvolume = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.UnknownKeys(), ","); got != "colour,audio.volume" {
		t.Errorf("UnknownKeys = %q", got)
	}
}
