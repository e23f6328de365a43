package call

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

// fakeInterface stands in for the watch of Lokinet's interface: the test
// says when it goes away and comes back, and every watcher (the listener,
// each call) hears it, first the state as it is, as from
// lokinet.WatchInterface.
type fakeInterface struct {
	mu       sync.Mutex
	state    lokinet.InterfaceState
	watchers []chan lokinet.InterfaceState
}

func newFakeInterface(p *peer) *fakeInterface {
	return &fakeInterface{state: lokinet.InterfaceState{Up: true, Prefix: netip.PrefixFrom(p.node.IP, 8)}}
}

func (f *fakeInterface) watch(context.Context, string) (<-chan lokinet.InterfaceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan lokinet.InterfaceState, 1)
	c <- f.state
	f.watchers = append(f.watchers, c)
	return c, nil
}

// set changes the interface's state and tells every watcher; as with
// lokinet.WatchInterface, one that falls behind gets the latest state.
func (f *fakeInterface) set(st lokinet.InterfaceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = st
	for _, c := range f.watchers {
		select {
		case <-c:
		default:
		}
		c <- st
	}
}

// daemonRestart is the plan of an emulated daemon restart on one side of
// a call.
type daemonRestart struct {
	ips      [2]string // alice's and bob's Lokinet IPs
	subnet   string
	port     uint16
	callee   bool // bob's daemon restarts, else alice's
	newSelf  string
	newPeer  string        // the restarted side's new view of the other
	down     time.Duration // 0: it never comes back
	talk     time.Duration
	timeout  time.Duration // media timeout; 0 for the default
	restarts chan time.Time
}

// runDaemonRestart runs a call whose media crosses a vnet router while one
// side's Lokinet daemon restarts 2 s into the audio: its interface goes
// away, its DNS refuses, its media sockets die, and its node's address and
// its view of the peer change. If d.down is set the daemon comes back after
// it, with the new addresses. It returns each side's Dial or Listen
// result and the times the daemon stopped and came back.
func runDaemonRestart(t *testing.T, d daemonRestart) (alice, bob *peer, aerr, berr error, stopped, back time.Time) {
	t.Helper()
	alice, bob = newPeers(t, d.ips[0], d.ips[1])
	nets := vnetPath(t, alice, bob, d.subnet, 20*time.Millisecond, 0, func(vnet.Chunk) bool { return true })
	x, y := alice, bob
	xVirt, yVirt := netip.MustParseAddr(d.subnet+".1"), netip.MustParseAddr(d.subnet+".2")
	if d.callee {
		x, y = bob, alice
		xVirt, yVirt = yVirt, xVirt
	}
	xNet := nets[x].(*mappedNet)
	kn := &killableNet{Net: xNet}
	lokinetX := newFakeInterface(x)

	ctx, cancel := context.WithTimeout(context.Background(), d.talk+60*time.Second)
	defer cancel()
	bcfg := bob.config("tone:660", "null", 0)
	bcfg.Net, bcfg.MediaTimeout = nets[bob], d.timeout
	acfg := alice.config("tone:440", "null", d.talk)
	acfg.Net, acfg.MediaTimeout = nets[alice], d.timeout
	xcfg := &acfg
	if d.callee {
		xcfg = &bcfg
	}
	xcfg.Net, xcfg.WatchLokinet = kn, lokinetX.watch

	times := make(chan [2]time.Time, 1)
	inner := acfg.Events
	acfg.Events = func(ev Event) {
		if ev.Kind == EventState && ev.State == StateActive {
			time.AfterFunc(2*time.Second, func() {
				var r [2]time.Time
				defer func() { times <- r }()
				// The daemon stops: DNS, interface, sockets and
				// mappings go.
				x.dns.SetDown(true)
				kn.kill()
				newSelf, newPeer := netip.MustParseAddr(d.newSelf), netip.MustParseAddr(d.newPeer)
				xNet.remap(xVirt, x.node.IP, newSelf)
				xNet.remap(yVirt, y.node.IP, newPeer)
				x.dns.SetSelfIP(newSelf)
				x.dns.SetPeer(y.node.Address.String(), newPeer)
				r[0] = time.Now()
				lokinetX.set(lokinet.InterfaceState{})
				if d.down == 0 {
					return
				}
				time.Sleep(d.down)
				lokinetX.set(lokinet.InterfaceState{Up: true, Prefix: netip.PrefixFrom(newSelf, 8)})
				time.Sleep(200 * time.Millisecond) // DNS follows the interface
				x.dns.SetDown(false)
				r[1] = time.Now()
			})
		}
		inner(ev)
	}
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: d.port, Accept: AcceptAll, MaxCalls: 1})
	_, aerr = Dial(ctx, acfg, bob.target(d.port))
	berr = <-done
	select {
	case r := <-times:
		stopped, back = r[0], r[1]
	default:
		t.Fatal("the call ended before the daemon restarted")
	}
	return alice, bob, aerr, berr, stopped, back
}

// checkDaemonBack checks one side of a call whose daemon came back: the
// restarted side said Lokinet went away within 1 s, and each side's audio
// was back within 3 s of the daemon.
func checkDaemonBack(t *testing.T, name string, p *peer, restarted bool, stopped, back time.Time) {
	t.Helper()
	var downAt, audioAt time.Time
	p.mu.Lock()
	for _, ev := range p.evs {
		switch {
		case ev.Kind == EventProgress && ev.Reason == ProgressLokinetDown && downAt.IsZero():
			downAt = ev.Time
		case ev.Kind == EventInterruption && ev.Interruption.Phase == InterruptionEnded && ev.Time.After(stopped) && audioAt.IsZero():
			audioAt = ev.Time
		}
	}
	p.mu.Unlock()
	switch {
	case restarted && downAt.IsZero():
		t.Errorf("%s: no %s event", name, ProgressLokinetDown)
	case restarted && downAt.Sub(stopped) > time.Second:
		t.Errorf("%s: %s %v after the daemon stopped, want within 1 s", name, ProgressLokinetDown, downAt.Sub(stopped))
	case !restarted && !downAt.IsZero():
		t.Errorf("%s: %s although its daemon ran on", name, ProgressLokinetDown)
	}
	if audioAt.IsZero() {
		t.Errorf("%s: the audio never came back after the restart", name)
		return
	}
	if d := audioAt.Sub(back); d > 3*time.Second {
		t.Errorf("%s: audio back %v after the daemon, want within 3 s", name, d)
	}
	t.Logf("%s: audio back %v after the daemon (down %v)", name, audioAt.Sub(back).Round(time.Millisecond), back.Sub(stopped).Round(time.Millisecond))
}

// TestDaemonRestartCaller: the caller's Lokinet daemon restarts mid-call
// and comes back with another address for the node and for the callee. The
// caller waits for it, binds its new media path to the new address, looks
// the callee up again and restarts; the call goes on and completes.
func TestDaemonRestartCaller(t *testing.T) {
	alice, bob, aerr, berr, stopped, back := runDaemonRestart(t, daemonRestart{
		ips: [2]string{"127.77.41.1", "127.77.41.2"}, subnet: "10.77.41", port: 17841,
		newSelf: "127.77.41.11", newPeer: "127.77.41.12", down: 2 * time.Second, talk: 8 * time.Second,
	})
	if aerr != nil || berr != nil {
		t.Fatalf("caller: %v; callee: %v; want both to complete", aerr, berr)
	}
	checkDaemonBack(t, "caller", alice, true, stopped, back)
	checkDaemonBack(t, "callee", bob, false, stopped, back)
	if !alice.has(EventProgress, func(ev Event) bool { return ev.Reason == ProgressLokinetBack }) {
		t.Errorf("caller: no %s event", ProgressLokinetBack)
	}
}

// TestDaemonRestartCallee: the same with the callee's daemon: the callee
// waits for it, looks the caller up again, asks for a restart and answers
// it from a media path on its new address.
func TestDaemonRestartCallee(t *testing.T) {
	alice, bob, aerr, berr, stopped, back := runDaemonRestart(t, daemonRestart{
		ips: [2]string{"127.77.42.1", "127.77.42.2"}, subnet: "10.77.42", port: 17842, callee: true,
		newSelf: "127.77.42.12", newPeer: "127.77.42.11", down: 2 * time.Second, talk: 8 * time.Second,
	})
	if aerr != nil || berr != nil {
		t.Fatalf("caller: %v; callee: %v; want both to complete", aerr, berr)
	}
	checkDaemonBack(t, "caller", alice, false, stopped, back)
	checkDaemonBack(t, "callee", bob, true, stopped, back)
}

// TestDaemonGoneEndsBothSides: a daemon that does not come back ends the
// call after the media timeout with lokinet-restarted on both sides, the
// side that lost its daemon telling the other, whichever side it is.
func TestDaemonGoneEndsBothSides(t *testing.T) {
	const timeout = 4 * time.Second
	for _, c := range []struct {
		name   string
		callee bool
		ip     string
		port   uint16
	}{{"caller's", false, "127.77.43", 17843}, {"callee's", true, "127.77.44", 17844}} {
		t.Run(c.name, func(t *testing.T) {
			alice, bob, aerr, berr, stopped, _ := runDaemonRestart(t, daemonRestart{
				ips: [2]string{c.ip + ".1", c.ip + ".2"}, subnet: "10.77." + c.ip[7:], port: c.port, callee: c.callee,
				newSelf: c.ip + ".21", newPeer: c.ip + ".22", talk: 30 * time.Second, timeout: timeout,
			})
			ended := time.Now()
			for name, e := range map[string]error{"caller": aerr, "callee": berr} {
				if !errors.Is(e, ErrLokinetRestarted) {
					t.Errorf("%s ended with %v, want ErrLokinetRestarted", name, e)
				}
			}
			for name, p := range map[string]*peer{"caller": alice, "callee": bob} {
				if !p.has(EventState, func(ev Event) bool {
					return ev.State == StateEnded && ev.Reason == signalling.ReasonLokinetRestarted
				}) {
					t.Errorf("%s: no end with reason %s", name, signalling.ReasonLokinetRestarted)
				}
			}
			if d := ended.Sub(stopped); d < timeout-2*time.Second || d > timeout+4*time.Second {
				t.Errorf("the call ended %v after the daemon stopped, want about the %v media timeout", d, timeout)
			} else {
				t.Logf("the call ended %v after the daemon stopped (media timeout %v)", d.Round(time.Millisecond), timeout)
			}
		})
	}
}
