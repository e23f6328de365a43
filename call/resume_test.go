package call

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/signalling"
)

// tcpProxy forwards TCP connections from its listener to target, dialling
// from a given local address (the caller's, so that the callee's PTR lookup
// names the caller), and can break them: reset them, let them fall silent
// or turn new ones away.
type tcpProxy struct {
	ln     net.Listener
	target atomic.Value // string; retarget changes it
	from   *net.TCPAddr
	refuse atomic.Bool
	mu     sync.Mutex
	pairs  []*proxyPair
}

type proxyPair struct {
	a, b   *net.TCPConn
	silent atomic.Bool
}

func startProxy(t *testing.T, listen, target, from string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, from: &net.TCPAddr{IP: net.ParseIP(from)}}
	p.target.Store(target)
	t.Cleanup(func() {
		_ = ln.Close()
		p.reset()
	})
	go p.serve()
	return p
}

func (p *tcpProxy) serve() {
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			return
		}
		a := nc.(*net.TCPConn)
		if p.refuse.Load() {
			_ = a.SetLinger(0)
			_ = a.Close()
			continue
		}
		d := net.Dialer{LocalAddr: p.from}
		bc, err := d.Dial("tcp4", p.target.Load().(string))
		if err != nil {
			_ = a.Close()
			continue
		}
		pair := &proxyPair{a: a, b: bc.(*net.TCPConn)}
		p.mu.Lock()
		p.pairs = append(p.pairs, pair)
		p.mu.Unlock()
		go pair.forward(pair.a, pair.b)
		go pair.forward(pair.b, pair.a)
	}
}

// forward copies from src to dst; once the pair is silent it reads on and
// drops everything, as a path that stopped forwarding would, without a
// reset or FIN.
func (pp *proxyPair) forward(src, dst *net.TCPConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pp.silent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && !pp.silent.Load() {
				_ = dst.CloseWrite()
			}
			return
		}
	}
}

// retarget forwards new connections to target: the callee's address after
// its Lokinet daemon restarted, which the caller's view of it (the proxy)
// still reaches.
func (p *tcpProxy) retarget(target string) { p.target.Store(target) }

// reset breaks every forwarded connection with a TCP reset on both sides.
func (p *tcpProxy) reset() {
	p.mu.Lock()
	pairs := p.pairs
	p.pairs = nil
	p.mu.Unlock()
	for _, pp := range pairs {
		for _, c := range []*net.TCPConn{pp.a, pp.b} {
			_ = c.SetLinger(0)
			_ = c.Close()
		}
	}
}

// silence makes every connection forwarded so far drop what it carries;
// new connections are forwarded.
func (p *tcpProxy) silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pairs {
		pp.silent.Store(true)
	}
}

// progressAt returns when p emitted the progress event with reason, the
// first one after t.
func (p *peer) progressAt(reason string, t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range p.evs {
		if ev.Kind == EventProgress && ev.Reason == reason && !ev.Time.Before(t) {
			return ev.Time, true
		}
	}
	return time.Time{}, false
}

// ended returns when p's call ended and the reason it gave.
func (p *peer) ended() (time.Time, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range p.evs {
		if ev.Kind == EventState && ev.State == StateEnded {
			return ev.Time, ev.Reason
		}
	}
	return time.Time{}, ""
}

// endReason returns the reason p's call ended with.
func (p *peer) endReason() string {
	_, r := p.ended()
	return r
}

// resumeCall runs a call from alice to bob whose signalling goes through a
// proxy on bob's address; breakAt runs break 2 s after alice's call is
// active, and returns both sides' results.
type resumeCall struct {
	alice, bob       *peer
	proxy            *tcpProxy
	aliceErr, bobErr error
	bobStats         *Stats
	broke            time.Time
	// hangUp ends alice's call as her user would.
	hangUp context.CancelFunc
}

func runResumeCall(t *testing.T, ips [2]string, port uint16, acfgEdit, bcfgEdit func(*Config), brk func(*resumeCall)) *resumeCall {
	t.Helper()
	alice, bob := newPeers(t, ips[0], ips[1])
	rc := &resumeCall{alice: alice, bob: bob}
	rc.proxy = startProxy(t, net.JoinHostPort(ips[1], itoa(port+1)), net.JoinHostPort(ips[1], itoa(port)), ips[0])
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lctx, stopListen := context.WithCancel(ctx)
	bcfg := bob.config("tone:660", "null", 0)
	if bcfgEdit != nil {
		bcfgEdit(&bcfg)
	}
	bobEnded := make(chan struct{})
	done := listen(t, lctx, bob, ListenConfig{Config: bcfg, Port: port, Accept: AcceptAll,
		OnCallEnd: func(st *Stats, err error) {
			rc.bobStats, rc.bobErr = st, err
			close(bobEnded)
		}})
	acfg := alice.config("tone:440", "null", 6*time.Second)
	if acfgEdit != nil {
		acfgEdit(&acfg)
	}
	broken := make(chan struct{})
	inner := acfg.Events
	var once sync.Once
	acfg.Events = func(ev Event) {
		if ev.Kind == EventState && ev.State == StateActive {
			once.Do(func() {
				time.AfterFunc(2*time.Second, func() {
					rc.broke = time.Now()
					brk(rc)
					close(broken)
				})
			})
		}
		inner(ev)
	}
	dctx, hangUp := context.WithCancel(ctx)
	defer hangUp()
	rc.hangUp = hangUp
	_, rc.aliceErr = Dial(dctx, acfg, bob.target(port+1))
	select {
	case <-broken:
	default:
		t.Fatalf("the call ended (%v) before the signalling connection was broken", rc.aliceErr)
	}
	select {
	case <-bobEnded:
	case <-ctx.Done():
		t.Fatal("the callee's call did not end")
	}
	stopListen()
	<-done
	return rc
}

// completedAndResumed checks that both sides completed the call and resumed
// its signalling after it broke, and passes each side with the time the
// resume took to check.
func (rc *resumeCall) completedAndResumed(t *testing.T, check func(name string, p *peer, resumed time.Duration)) {
	t.Helper()
	if rc.aliceErr != nil || rc.bobErr != nil {
		t.Fatalf("caller ended with %v, callee with %v; want both completed", rc.aliceErr, rc.bobErr)
	}
	for name, p := range map[string]*peer{"caller": rc.alice, "callee": rc.bob} {
		if r := p.endReason(); r != signalling.ReasonCompleted {
			t.Errorf("%s ended %q, want completed", name, r)
		}
		back, ok := p.progressAt(ProgressSignallingResumed, rc.broke)
		if !ok {
			t.Errorf("%s: no %s event after the connection broke", name, ProgressSignallingResumed)
			continue
		}
		check(name, p, back.Sub(rc.broke))
	}
}

func itoa(n uint16) string { return strconv.Itoa(int(n)) }

// TestSignallingResetResumes: the signalling connection is reset mid-call
// (both sides get an RST). The call does not end: the caller reconnects and
// resumes within a short time, audio goes on throughout, and both sides
// end the call completed.
func TestSignallingResetResumes(t *testing.T) {
	var stray signalling.Message
	var strayErr error
	rc := runResumeCall(t, [2]string{"127.77.40.1", "127.77.40.2"}, 17940, nil, nil, func(rc *resumeCall) {
		// First a resume from the caller's address for another call: it
		// is refused and the call goes on untouched.
		stray, strayErr = strayResume(rc.alice, rc.bob, 17940)
		rc.proxy.reset()
	})
	if strayErr != nil || stray.Type != signalling.TypeReject || stray.Reason != signalling.ReasonNoSuchCall {
		t.Errorf("a resume for another call got %+v (%v), want reject %s", stray, strayErr, signalling.ReasonNoSuchCall)
	}
	rc.completedAndResumed(t, func(name string, p *peer, d time.Duration) {
		lost, ok := p.progressAt(ProgressSignallingLost, rc.broke)
		// The caller's resume may reach the callee before the reset does
		// (a loaded machine): the callee then learns of the break from
		// the resume itself, and says so.
		replaced := p == rc.bob && p.has(EventProgress, func(e Event) bool {
			return e.Reason == ProgressSignallingResumed && e.Message == replacedByCaller
		})
		if !ok && !replaced {
			t.Errorf("%s: no %s event after the reset", name, ProgressSignallingLost)
		}
		t.Logf("%s: signalling lost %v and resumed %v after the reset", name, lost.Sub(rc.broke).Round(time.Millisecond), d.Round(time.Millisecond))
		if d > 3*time.Second {
			t.Errorf("%s: resumed %v after the reset, want within 3 s", name, d)
		}
		if p.has(EventInterruption, nil) {
			t.Errorf("%s: audio was interrupted; the media path does not depend on signalling", name)
		}
	})
	if rc.bobStats == nil || rc.bobStats.PacketsReceived == 0 {
		t.Errorf("callee statistics %+v: want audio received", rc.bobStats)
	}
}

// strayResume sends, from alice's address, a resume for a call that does
// not exist to bob's signalling port and returns the reply.
func strayResume(alice, bob *peer, port uint16) (signalling.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: alice.node.IP.AsSlice()}}
	c, err := signalling.Dial(ctx, d, netip.AddrPortFrom(bob.node.IP, port), signalling.ConnOptions{})
	if err != nil {
		return signalling.Message{}, err
	}
	defer c.Close()
	if err := c.Send(ctx, signalling.Message{Version: signalling.Version, Type: signalling.TypeResume,
		CallID: signalling.NewCallID(), From: alice.node.Address.String()}); err != nil {
		return signalling.Message{}, err
	}
	return c.Receive(ctx)
}

// TestSignallingDownCalleeEnds: the callee ends the call while the
// signalling connection is down (reset, and new connections turned away).
// When the caller gets through again its resume is answered with the
// callee's hangup, and it ends the call with the callee's reason.
func TestSignallingDownCalleeEnds(t *testing.T) {
	var reopened atomic.Int64
	rc := runResumeCall(t, [2]string{"127.77.40.5", "127.77.40.6"}, 17942, func(c *Config) { c.Duration = 40 * time.Second },
		func(c *Config) { c.Duration = 4 * time.Second }, func(rc *resumeCall) {
			rc.proxy.refuse.Store(true)
			rc.proxy.reset()
			time.AfterFunc(5*time.Second, func() {
				reopened.Store(time.Now().UnixNano())
				rc.proxy.refuse.Store(false)
			})
		})
	if rc.aliceErr != nil || rc.bobErr != nil {
		t.Fatalf("caller ended with %v, callee with %v; want both completed", rc.aliceErr, rc.bobErr)
	}
	for name, p := range map[string]*peer{"caller": rc.alice, "callee": rc.bob} {
		if r := p.endReason(); r != signalling.ReasonCompleted {
			t.Errorf("%s ended %q, want completed", name, r)
		}
	}
	ended, _ := rc.alice.ended()
	at := time.Unix(0, reopened.Load())
	if reopened.Load() == 0 || ended.Before(at) || ended.Sub(at) > 4*time.Second {
		t.Errorf("the caller ended %v after the callee could be reached again, want within 4 s", ended.Sub(at))
	}
}

// pausableSource stops delivering audio while paused, as a sender that
// goes quiet on the network.
type pausableSource struct {
	media.Source
	paused atomic.Bool
}

func (p *pausableSource) ReadFrame(ctx context.Context, pcm []int16) error {
	for p.paused.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return p.Source.ReadFrame(ctx, pcm)
}

// TestSilentSignallingReplaced: the signalling connection stops forwarding
// without a reset or FIN, and the callee's audio stops for a while, so the
// caller restarts the media path; the restart goes unanswered, and the
// caller replaces the signalling connection, resumes and completes the call.
func TestSilentSignallingReplaced(t *testing.T) {
	var src *pausableSource
	rc := runResumeCall(t, [2]string{"127.77.40.9", "127.77.40.10"}, 17944, func(c *Config) { c.Duration = 12 * time.Second },
		func(c *Config) {
			c.WrapSource = func(s media.Source) media.Source {
				src = &pausableSource{Source: s}
				return src
			}
		}, func(rc *resumeCall) {
			rc.proxy.silence()
			src.paused.Store(true)
			time.AfterFunc(7500*time.Millisecond, func() { src.paused.Store(false) })
		})
	if rc.aliceErr != nil || rc.bobErr != nil {
		t.Fatalf("caller ended with %v, callee with %v; want both completed", rc.aliceErr, rc.bobErr)
	}
	lost, ok := rc.alice.progressAt(ProgressSignallingLost, rc.broke)
	if !ok {
		t.Fatal("the caller never gave the silent signalling connection up")
	}
	back, ok := rc.alice.progressAt(ProgressSignallingResumed, rc.broke)
	if !ok {
		t.Fatal("the caller never resumed")
	}
	// Interruption after 1 s, restart after 2 s, 5 s unanswered.
	t.Logf("caller: gave the silent connection up %v after it fell silent, resumed %v after", lost.Sub(rc.broke).Round(time.Millisecond), back.Sub(rc.broke).Round(time.Millisecond))
	if d := lost.Sub(rc.broke); d > 11*time.Second {
		t.Errorf("the caller gave the silent connection up %v after it fell silent, want within 11 s", d)
	}
	if _, ok := rc.bob.progressAt(ProgressSignallingResumed, rc.broke); !ok {
		t.Error("the callee did not take the caller's new connection")
	}
	for name, p := range map[string]*peer{"caller": rc.alice, "callee": rc.bob} {
		if r := p.endReason(); r != signalling.ReasonCompleted {
			t.Errorf("%s ended %q, want completed", name, r)
		}
	}
}

// TestResumeHandOver: the call itself refuses a resume while it rings,
// leaving its connection and state as they were; an accepted call in the
// middle of a restart answers resumed, carries on over the new connection
// and drops the restart.
func TestResumeHandOver(t *testing.T) {
	alice, bob := newPeers(t, "127.77.40.13", "127.77.40.14")
	accepted := []signalling.Type{signalling.TypeOffer, signalling.TypeRinging, signalling.TypeAnswer, signalling.TypeAccept}
	for _, c := range []struct {
		name    string
		history []signalling.Type
		restart bool
		refusal string
	}{
		{"ringing", accepted[:3], false, signalling.ReasonNotResumable},
		{"accepted, restarting", accepted, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			near, far := net.Pipe()
			defer far.Close()
			cfg := bob.config("silence", "null", 0)
			callID := signalling.NewCallID()
			old := signalling.NewConn(near, signalling.ConnOptions{})
			s, err := newSession(&cfg, "", signalling.Callee, callID, old, alice.node.Address, alice.node.IP, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer s.closeMedia()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.readCtx = ctx
			for i, typ := range c.history {
				if i%4 == 0 {
					err = s.machine.Received(typ)
				} else {
					err = s.machine.Sent(typ)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if c.restart {
				if err := s.machine.Received(signalling.TypeICERestart); err != nil {
					t.Fatal(err)
				}
			}
			before := s.machine.State()
			newNear, newFar := net.Pipe()
			defer newFar.Close()
			in := &signalling.Incoming{Conn: signalling.NewConn(newNear, signalling.ConnOptions{}), Caller: alice.node.Address,
				Offer: signalling.Message{Version: signalling.Version, Type: signalling.TypeResume, CallID: callID, From: alice.node.Address.String()}}
			got := make(chan signalling.Message, 1)
			go func() {
				m, err := signalling.NewConn(newFar, signalling.ConnOptions{}).Receive(ctx)
				if err == nil {
					got <- m
				}
			}()
			req := resumeRequest{in: in, reply: make(chan *signalling.Refusal, 1)}
			s.onResumeRequest(req)
			r := <-req.reply
			if c.refusal != "" {
				if r == nil || r.Type != signalling.TypeReject || r.Reason != c.refusal {
					t.Fatalf("refusal %+v, want reject %q", r, c.refusal)
				}
				if s.signallingConn() != old || s.machine.State() != before || s.sigDown.Load() {
					t.Errorf("a refused resume changed the call: state %v (was %v)", s.machine.State(), before)
				}
				return
			}
			if r != nil {
				t.Fatalf("refused with %+v, want the call to take the connection", r)
			}
			select {
			case m := <-got:
				if m.Type != signalling.TypeResumed || m.CallID != callID {
					t.Errorf("the caller got %+v, want resumed", m)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no resumed on the new connection")
			}
			if s.signallingConn() != in.Conn {
				t.Error("the call did not move to the new connection")
			}
			if st := s.machine.State(); st != signalling.StateAccepted {
				t.Errorf("state %v after resuming, want accepted (the restart dropped)", st)
			}
		})
	}
}

// TestSignallingNotBackEnds: the signalling connection breaks and the
// callee cannot be reached again, while media flows. After the media
// timeout both sides end with connection-lost, neither much earlier.
func TestSignallingNotBackEnds(t *testing.T) {
	const timeout = 4 * time.Second
	rc := runResumeCall(t, [2]string{"127.77.40.17", "127.77.40.18"}, 17946,
		func(c *Config) { c.Duration, c.MediaTimeout = 40*time.Second, timeout },
		func(c *Config) { c.MediaTimeout = timeout }, func(rc *resumeCall) {
			rc.proxy.refuse.Store(true)
			rc.proxy.reset()
		})
	for name, err := range map[string]error{"caller": rc.aliceErr, "callee": rc.bobErr} {
		if !errors.Is(err, ErrConnectionLost) {
			t.Errorf("%s ended with %v, want ErrConnectionLost", name, err)
		}
	}
	for name, p := range map[string]*peer{"caller": rc.alice, "callee": rc.bob} {
		ended, r := p.ended()
		if r != signalling.ReasonConnectionLost {
			t.Errorf("%s ended %q, want %s", name, r, signalling.ReasonConnectionLost)
		}
		if d := ended.Sub(rc.broke); d < timeout || d > timeout+calleeMediaSlack+3*time.Second {
			t.Errorf("%s ended %v after the break, want after the %v media timeout", name, d, timeout)
		}
	}
}

// TestCallerHangsUpWhileDisconnected: the caller hangs up while the
// signalling connection is down; it reconnects once more to say so, and the
// callee ends the call completed at once rather than after its timeout.
func TestCallerHangsUpWhileDisconnected(t *testing.T) {
	var reopened atomic.Int64
	rc := runResumeCall(t, [2]string{"127.77.40.21", "127.77.40.22"}, 17948,
		func(c *Config) { c.Duration = 40 * time.Second },
		func(c *Config) { c.MediaTimeout = 20 * time.Second }, func(rc *resumeCall) {
			rc.proxy.refuse.Store(true)
			rc.proxy.reset()
			time.AfterFunc(time.Second, rc.hangUp)
			time.AfterFunc(1500*time.Millisecond, func() {
				reopened.Store(time.Now().UnixNano())
				rc.proxy.refuse.Store(false)
			})
		})
	if rc.bobErr != nil {
		t.Errorf("callee ended with %v, want completed", rc.bobErr)
	}
	ended, r := rc.bob.ended()
	if r != signalling.ReasonCompleted {
		t.Errorf("callee ended %q, want completed", r)
	}
	if at := time.Unix(0, reopened.Load()); reopened.Load() == 0 || ended.Sub(at) > 3*time.Second {
		t.Errorf("callee ended %v after the caller could reach it again, want within 3 s", ended.Sub(at))
	}
}
