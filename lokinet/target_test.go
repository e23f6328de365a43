package lokinet

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	addr, err := ParseAddress(realAddr)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		host    string
		port    uint16
		isAddr  bool
		str     string // String(), when it differs from in
		errPart string
		addrErr bool // error also wraps ErrInvalidAddress
	}{
		{name: "address", in: realAddr, host: realAddr, isAddr: true},
		{name: "address port", in: realAddr + ":7787", host: realAddr, port: 7787, isAddr: true},
		{name: "address upper dot port", in: strings.ToUpper(realAddr) + ".:1", host: realAddr, port: 1, isAddr: true, str: realAddr + ":1"},
		{name: "address max port", in: realAddr + ":65535", host: realAddr, port: 65535, isAddr: true},
		{name: "subdomain of address", in: "www." + realAddr, host: "www." + realAddr, isAddr: true},
		{name: "ons", in: "alice.loki", host: "alice.loki"},
		{name: "ons port", in: "alice.loki:9000", host: "alice.loki", port: 9000},
		{name: "ons upper dot", in: "Alice.LOKI.", host: "alice.loki", str: "alice.loki"},
		{name: "ons hyphen digits", in: "my-node-7.loki", host: "my-node-7.loki"},
		{name: "ons one char", in: "a.loki", host: "a.loki"},
		{name: "ons 63", in: strings.Repeat("a", 63) + ".loki", host: strings.Repeat("a", 63) + ".loki"},
		{name: "ons 51", in: strings.Repeat("a", 51) + ".loki", host: strings.Repeat("a", 51) + ".loki"},
		{name: "ons 53", in: strings.Repeat("l", 53) + ".loki", host: strings.Repeat("l", 53) + ".loki"},
		{name: "ons two labels", in: "voice.alice.loki", host: "voice.alice.loki"},

		{name: "empty", in: "", errPart: "empty"},
		{name: "blank", in: "  ", errPart: "empty"},
		{name: "only port", in: ":7787", errPart: "empty name"},
		{name: "empty port", in: "alice.loki:", errPart: "empty port"},
		{name: "port zero", in: "alice.loki:0", errPart: "not 1 to 65535"},
		{name: "port leading zero", in: "alice.loki:07787", errPart: "not 1 to 65535"},
		{name: "port too big", in: "alice.loki:65536", errPart: "not 1 to 65535"},
		{name: "port huge", in: "alice.loki:999999", errPart: "not 1 to 65535"},
		{name: "port sign", in: "alice.loki:+80", errPart: "not a number"},
		{name: "port letters", in: "alice.loki:http", errPart: "not a number"},
		{name: "two ports", in: "alice.loki:80:90", errPart: "does not end in .loki"},
		{name: "no tld", in: "alice", errPart: "does not end in .loki"},
		{name: "wrong tld", in: "alice.sesh", errPart: "does not end in .loki"},
		{name: "dns name", in: "example.com:443", errPart: "does not end in .loki"},
		{name: "ip", in: "172.16.0.2:7787", errPart: "does not end in .loki"},
		{name: "only tld", in: ".loki", errPart: "no name before .loki"},
		{name: "tld no dot", in: "loki", errPart: "does not end in .loki"},
		{name: "empty label", in: "a..loki", errPart: "empty label"},
		{name: "leading hyphen", in: "-alice.loki", errPart: "hyphen"},
		{name: "trailing hyphen", in: "alice-.loki", errPart: "hyphen"},
		{name: "underscore", in: "al_ice.loki", errPart: `character 3 ('_')`},
		{name: "label 64", in: strings.Repeat("a", 64) + ".loki", errPart: "64 characters"},
		{name: "too long", in: strings.Repeat("abcdefghi.", 26) + "loki", errPart: "at most 253"},
		{name: "address bad char", in: withChar(5, 'l'), errPart: "character 5 ('l') is not z-base32", addrErr: true},
		{name: "address bad last", in: withChar(52, 'b') + ":7787", errPart: "last character 'b'", addrErr: true},
		{name: "address length hyphen", in: strings.Repeat("a", 51) + "-.loki", errPart: "not z-base32", addrErr: true},
		{name: "address upper bad", in: strings.ToUpper(withChar(9, 'v')), errPart: "character 9 ('v')", addrErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if tt.errPart != "" {
				if err == nil {
					t.Fatalf("ParseTarget(%q) = %+v, want error containing %q", tt.in, got, tt.errPart)
				}
				if !errors.Is(err, ErrInvalidTarget) {
					t.Errorf("error %v does not wrap ErrInvalidTarget", err)
				}
				if errors.Is(err, ErrInvalidAddress) != tt.addrErr {
					t.Errorf("error %v: wraps ErrInvalidAddress = %v, want %v", err, !tt.addrErr, tt.addrErr)
				}
				if !strings.Contains(err.Error(), tt.errPart) {
					t.Errorf("error %q does not contain %q", err, tt.errPart)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tt.in, err)
			}
			if got.Host != tt.host || got.Port != tt.port {
				t.Errorf("ParseTarget(%q) = host %q port %d, want %q %d", tt.in, got.Host, got.Port, tt.host, tt.port)
			}
			if tt.isAddr != !got.Address.IsZero() || got.IsONS() == tt.isAddr {
				t.Errorf("ParseTarget(%q): Address %q, IsONS %v; want address %v", tt.in, got.Address, got.IsONS(), tt.isAddr)
			}
			if tt.isAddr && got.Address != addr {
				t.Errorf("Address = %q, want %q", got.Address, addr)
			}
			want := tt.str
			if want == "" {
				want = tt.in
			}
			if got.String() != want {
				t.Errorf("String() = %q, want %q", got.String(), want)
			}
		})
	}
}

func TestParseTargetFlavour(t *testing.T) {
	sesh := Flavour{Name: "session-router", TLD: "sesh"}
	label := strings.TrimSuffix(realAddr, ".loki")
	got, err := sesh.ParseTarget(label + ".sesh:7787")
	if err != nil {
		t.Fatal(err)
	}
	if got.Address.String() != label+".sesh" || got.Port != 7787 {
		t.Fatalf("got %+v", got)
	}
	if _, err := sesh.ParseTarget(realAddr); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf(".loki in the sesh flavour: err = %v", err)
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		realAddr, realAddr + ":7787", "alice.loki:1", "ALICE.LOKI.", "www." + realAddr,
		withChar(5, 'l'), "a..loki", ":", "alice.loki:65536", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTarget) {
				t.Fatalf("ParseTarget(%q) error %v does not wrap ErrInvalidTarget", s, err)
			}
			return
		}
		if tg.Host != strings.ToLower(tg.Host) || strings.HasSuffix(tg.Host, ".") || !strings.HasSuffix(tg.Host, ".loki") {
			t.Fatalf("ParseTarget(%q).Host = %q is not canonical", s, tg.Host)
		}
		str := tg.String()
		again, err := ParseTarget(str)
		if err != nil {
			t.Fatalf("String() %q of ParseTarget(%q) does not re-parse: %v", str, s, err)
		}
		if again != tg || again.String() != str {
			t.Fatalf("%q re-parses to %+v, want %+v", str, again, tg)
		}
		if !tg.Address.IsZero() && !strings.HasSuffix(tg.Host, tg.Address.String()) {
			t.Fatalf("host %q does not end in its address %q", tg.Host, tg.Address)
		}
	})
}
