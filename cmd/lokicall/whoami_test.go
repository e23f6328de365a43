package main

import (
	"net/netip"
	"strings"
	"testing"

	"rsc.io/qr"

	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

// TestWhoamiQR: whoami --qr draws the QR code of the node's lokicall: URI,
// module for module, and contacts add takes that URI as it is.
func TestWhoamiQR(t *testing.T) {
	self := lokinettest.RandomAddress()
	srv, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{Self: self, SelfIP: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out, errs, code := run(t, map[string]string{"LOKICALL_CONFIG": t.TempDir() + "/none.toml"}, "--lokinet-dns", srv.Addr(), "whoami", "--qr")
	if code != 0 {
		t.Fatalf("whoami --qr: exit %d: %s", code, errs)
	}
	uri := "lokicall:" + self.String()
	before, drawing, ok := strings.Cut(out, "\n"+uri+"\n")
	if !ok || !strings.Contains(before, self.String()) {
		t.Fatalf("whoami --qr does not show %s:\n%s", uri, out)
	}
	want, err := qr.Encode(uri, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(drawing, "\n")
	const quiet = 2
	for y := 0; y < want.Size; y += 2 {
		row := []rune(lines[quiet/2+y/2])
		if len(row) < quiet+want.Size {
			t.Fatalf("row %d is %d characters, want %d", y, len(row), quiet+want.Size)
		}
		for x := 0; x < want.Size; x++ {
			top, bottom := true, true // light
			switch row[quiet+x] {
			case ' ':
				top, bottom = false, false
			case '▄':
				top = false
			case '▀':
				bottom = false
			case '█':
			default:
				t.Fatalf("row %d column %d: %q is not a half block", y, x, row[quiet+x])
			}
			if top == want.Black(x, y) || (y+1 < want.Size && bottom == want.Black(x, y+1)) {
				t.Fatalf("module (%d,%d) or the one below differs from the QR code of %s", x, y, uri)
			}
		}
	}

	cfg := t.TempDir() + "/config.toml"
	if _, errs, code := run(t, nil, "--config", cfg, "contacts", "add", "me", uri); code != 0 {
		t.Fatalf("contacts add with the URI: exit %d: %s", code, errs)
	}
	if out, _, _ := run(t, nil, "--config", cfg, "contacts"); !strings.Contains(out, self.String()) {
		t.Errorf("the contact added from the URI: %q", out)
	}
	if _, _, code := run(t, nil, "--config", cfg, "contacts", "add", "x", uri+":7787"); code != exitUsage {
		t.Errorf("a URI with more than an address: exit %d, want %d", code, exitUsage)
	}
}
