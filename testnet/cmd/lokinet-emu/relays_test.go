package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/lokicall/lokicall/testnet/onion"
)

// TestRelaysListsTheDirectory: the relays tool reports every relay that
// beat to the directory, by address.
func TestRelaysListsTheDirectory(t *testing.T) {
	srv := httptest.NewServer(onion.NewDirectory(onion.DirectoryConfig{}))
	defer srv.Close()
	dc := &onion.DirectoryClient{URL: srv.URL}
	want := map[string]bool{"10.88.0.7:1090": true, "10.88.1.9:1090": true, "10.88.2.3:1090": true}
	for a := range want {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := dc.Heartbeat(context.Background(), onion.RelayInfo{Key: k.PublicKey().Bytes(), Addr: netip.MustParseAddrPort(a)}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := runRelays(context.Background(), []string{"-directory", srv.URL}, &out, nil); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Count  int      `json:"count"`
		Relays []string `json:"relays"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if got.Count != len(want) || len(got.Relays) != len(want) {
		t.Fatalf("got %s, want %d relays", out.Bytes(), len(want))
	}
	for _, a := range got.Relays {
		if !want[a] {
			t.Errorf("unexpected relay %s in %s", a, out.Bytes())
		}
	}
	if err := runRelays(context.Background(), []string{"-directory", "http://127.0.0.1:1", "-timeout", "2s"}, &out, nil); err == nil {
		t.Error("no directory: want an error")
	}
}
