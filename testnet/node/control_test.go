package node

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/testnet/onion"
)

func TestParseControlRequest(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		cmd  string
		d    time.Duration
		rate float64
	}{
		{`{"cmd":"cut","duration":"8s"}`, CtlCut, 8 * time.Second, 0},
		{`{"cmd":"loss","duration":"6s","rate":0.3}`, CtlLoss, 6 * time.Second, 0.3},
		{`{"cmd":"restart"}`, CtlRestart, 0, 0},
		{`{"cmd":"restart","duration":"1s"}`, CtlRestart, time.Second, 0},
		{`{"cmd":"status"}`, CtlStatus, 0, 0},
	}
	for _, g := range good {
		r, d, err := ParseControlRequest([]byte(g.in))
		if err != nil || r.Cmd != g.cmd || d != g.d || r.Rate != g.rate {
			t.Errorf("%s: %+v %v %v", g.in, r, d, err)
		}
	}
	for _, in := range []string{
		``, `{`, `[]`, `{"cmd":"reboot"}`, `{"cmd":"cut"}`, `{"cmd":"cut","duration":"-1s"}`,
		`{"cmd":"cut","duration":"8"}`, `{"cmd":"cut","duration":"100000h"}`, `{"cmd":"loss","duration":"1s"}`,
		`{"cmd":"loss","duration":"1s","rate":1.5}`, `{"cmd":"loss","duration":"1s","rate":-0.1}`,
		`{"cmd":"status","x":` + strings.Repeat("1", 5000) + `}`,
	} {
		if _, _, err := ParseControlRequest([]byte(in)); !errors.Is(err, ErrControl) {
			t.Errorf("%q: err = %v, want ErrControl", in, err)
		}
	}
}

func FuzzControlRequest(f *testing.F) {
	f.Add([]byte(`{"cmd":"cut","duration":"8s"}`))
	f.Add([]byte(`{"cmd":"loss","duration":"6s","rate":0.3}`))
	f.Add([]byte(`{"cmd":"restart","duration":"3s"}`))
	f.Add([]byte(`{"cmd":"status"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, d, err := ParseControlRequest(b)
		if err != nil {
			if !errors.Is(err, ErrControl) {
				t.Fatalf("error %v does not wrap ErrControl", err)
			}
			return
		}
		if d < 0 || d > maxControlDuration {
			t.Fatalf("accepted duration %v", d)
		}
		if (r.Cmd == CtlCut || r.Cmd == CtlLoss) && d == 0 {
			t.Fatalf("accepted %s without a duration", r.Cmd)
		}
		if r.Cmd == CtlLoss && (r.Rate <= 0 || r.Rate > 1) {
			t.Fatalf("accepted loss rate %v", r.Rate)
		}
	})
}

// The control socket carries requests to a node and its replies back:
// a cut shows in the status, a bad request gets a clear error.
func TestControlSocket(t *testing.T) {
	t.Parallel()
	n := &Node{impair: onion.NewImpairment(1), log: slog.New(slog.DiscardHandler), reqs: make(chan time.Duration, 1)}
	path := filepath.Join(t.TempDir(), "run", "ctl.sock")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.ServeControl(ctx, path) }()
	deadline := time.Now().Add(5 * time.Second)
	var reply ControlReply
	var err error
	for {
		reply, err = SendControl(t.Context(), path, ControlRequest{Cmd: CtlCut, Duration: "10s"})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || !reply.OK {
		t.Fatalf("cut: %+v, %v", reply, err)
	}
	reply, err = SendControl(t.Context(), path, ControlRequest{Cmd: CtlStatus})
	if err != nil || reply.Status == nil {
		t.Fatalf("status: %+v, %v", reply, err)
	}
	if s := reply.Status; s.Up || s.Cuts != 1 || s.CutLeftMS < 9000 {
		t.Errorf("status after a cut of 10 s: %+v", s)
	}
	if !n.impair.Drop() {
		t.Error("the cut does not drop packets")
	}
	if _, err := SendControl(t.Context(), path, ControlRequest{Cmd: "reboot"}); !errors.Is(err, ErrControl) || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("bad command: err = %v", err)
	}
	// Down (no daemon): a restart is refused, not queued.
	if _, err := SendControl(t.Context(), path, ControlRequest{Cmd: CtlRestart}); err == nil {
		t.Error("restart accepted while the daemon is down")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
