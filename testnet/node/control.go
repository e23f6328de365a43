package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lokicall/lokicall/testnet/onion"
)

// DefaultControlSocket is where a node serves its control socket.
const DefaultControlSocket = "/run/lokinet-emu/ctl.sock"

// maxControlRequest bounds one request line.
const maxControlRequest = 4096

// Control commands.
const (
	CtlCut     = "cut"
	CtlRestart = "restart"
	CtlLoss    = "loss"
	CtlStatus  = "status"
)

// ControlRequest is one command to a running node, sent as one JSON line
// on its control socket.
type ControlRequest struct {
	// Cmd is CtlCut, CtlRestart, CtlLoss or CtlStatus.
	Cmd string `json:"cmd"`
	// Duration is the length of a cut or loss window, or the down time of
	// a restart (zero: DefaultRestartDown), in Go syntax ("8s").
	Duration string `json:"duration,omitempty"`
	// Rate is the loss probability of a loss window, in (0, 1].
	Rate float64 `json:"rate,omitempty"`
}

// maxControlDuration bounds a cut, loss window or restart.
const maxControlDuration = 24 * time.Hour

// ParseControlRequest decodes and checks one request line.
func ParseControlRequest(b []byte) (ControlRequest, time.Duration, error) {
	var r ControlRequest
	if len(b) > maxControlRequest {
		return r, 0, fmt.Errorf("%w: request of %d bytes", ErrControl, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, 0, fmt.Errorf("%w: %w", ErrControl, err)
	}
	var d time.Duration
	if r.Duration != "" {
		var err error
		if d, err = time.ParseDuration(r.Duration); err != nil {
			return r, 0, fmt.Errorf("%w: duration: %w", ErrControl, err)
		}
		if d < 0 || d > maxControlDuration {
			return r, 0, fmt.Errorf("%w: duration %v not in [0, %v]", ErrControl, d, maxControlDuration)
		}
	}
	switch r.Cmd {
	case CtlCut:
		if d <= 0 {
			return r, 0, fmt.Errorf("%w: cut needs a duration", ErrControl)
		}
	case CtlLoss:
		if d <= 0 {
			return r, 0, fmt.Errorf("%w: loss needs a duration", ErrControl)
		}
		if math.IsNaN(r.Rate) || r.Rate <= 0 || r.Rate > 1 {
			return r, 0, fmt.Errorf("%w: loss rate %v not in (0, 1]", ErrControl, r.Rate)
		}
	case CtlRestart, CtlStatus:
	default:
		return r, 0, fmt.Errorf("%w: unknown command %q (cut, restart, loss, status)", ErrControl, r.Cmd)
	}
	return r, d, nil
}

// ControlReply is the node's answer: OK and, for status, the node's state,
// or the error.
type ControlReply struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status is a running node's state as the control socket reports it.
type Status struct {
	Address string `json:"address"`
	// Up is false while a restart keeps the daemon down.
	Up       bool `json:"up"`
	Restarts int  `json:"restarts"`
	// DownLeftMS is what remains of a restart's down time.
	DownLeftMS int64 `json:"down_left_ms,omitempty"`
	// Path is the current path (empty while down); PathsBuilt,
	// PathsRebuilt and PathsExpired count over every start.
	Path         []string `json:"path"`
	PathAgeS     float64  `json:"path_age_s"`
	PathRTTMS    float64  `json:"path_rtt_ms"`
	PathsBuilt   int64    `json:"paths_built"`
	PathsRebuilt int64    `json:"paths_rebuilt"`
	PathsExpired int64    `json:"paths_expired"`
	// Sessions are those of the current start; Swaps counts session
	// replacements over every start.
	Sessions []onion.SessionStatus `json:"sessions"`
	Swaps    int64                 `json:"swaps"`
	// Cuts, LossWindows and Dropped count what was imposed with cut and
	// loss, and the packets it dropped.
	onion.ImpairmentStats
	// Mappings is the number of peers mapped to an address in the range.
	Mappings int `json:"mappings"`
}

// Status returns the node's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	d, past, restarts, downUntil := n.inst, n.past, n.restarts, n.downUntil
	n.mu.Unlock()
	s := Status{
		Address: n.self.String(), Up: d != nil, Restarts: restarts,
		Path: []string{}, Sessions: []onion.SessionStatus{},
		PathsBuilt: past.PathsBuilt, PathsRebuilt: past.PathsRebuilt, PathsExpired: past.PathsExpired, Swaps: past.Swaps,
		ImpairmentStats: n.impair.Stats(),
	}
	if d == nil {
		s.DownLeftMS = max(time.Until(downUntil).Milliseconds(), 0)
		return s
	}
	es := d.ep.Status()
	s.Path, s.PathAgeS, s.PathRTTMS = es.Path, es.PathAgeS, es.PathRTTMS
	s.PathsBuilt += es.PathsBuilt
	s.PathsRebuilt += es.PathsRebuilt
	s.PathsExpired += es.PathsExpired
	s.Swaps += es.Swaps
	s.Sessions = es.Sessions
	s.Mappings = d.amap.Len()
	return s
}

// Control carries out one request.
func (n *Node) Control(line []byte) ControlReply {
	r, d, err := ParseControlRequest(line)
	if err != nil {
		return ControlReply{Error: err.Error()}
	}
	switch r.Cmd {
	case CtlCut:
		n.Cut(d)
	case CtlLoss:
		n.Loss(d, r.Rate)
	case CtlRestart:
		if err := n.Restart(d); err != nil {
			return ControlReply{Error: err.Error()}
		}
	case CtlStatus:
		s := n.Status()
		return ControlReply{OK: true, Status: &s}
	}
	return ControlReply{OK: true}
}

// ServeControl serves the control socket at path until ctx is done: one
// JSON request line per connection, one JSON reply line. A stale socket
// file is replaced; the socket is removed when it returns.
func (n *Node) ServeControl(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("node: control socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node: control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("node: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("node: control socket: %w", err)
	}
	n.log.Info("control socket", "path", path)
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("node: control socket: %w", err)
		}
		wg.Go(func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			sc := bufio.NewScanner(c)
			sc.Buffer(make([]byte, 512), maxControlRequest)
			var reply ControlReply
			if sc.Scan() {
				reply = n.Control(sc.Bytes())
			} else {
				reply = ControlReply{Error: fmt.Sprintf("%v: no request line (%v)", ErrControl, sc.Err())}
			}
			b, _ := json.Marshal(reply) // plain data: cannot fail
			_, _ = c.Write(append(b, '\n'))
		})
	}
}

// SendControl sends one request to the node serving the socket at path
// and returns its reply; a reply with an error is returned as an error.
func SendControl(ctx context.Context, path string, r ControlRequest) (ControlReply, error) {
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "unix", path)
	if err != nil {
		return ControlReply{}, fmt.Errorf("node: control socket: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return ControlReply{}, fmt.Errorf("node: control request: %w", err)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return ControlReply{}, fmt.Errorf("node: control socket: %w", err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return ControlReply{}, fmt.Errorf("node: control reply: %w", err)
	}
	var reply ControlReply
	if err := json.Unmarshal(line, &reply); err != nil {
		return ControlReply{}, fmt.Errorf("node: control reply: %w", err)
	}
	if !reply.OK {
		return reply, fmt.Errorf("%w: %s", ErrControl, reply.Error)
	}
	return reply, nil
}
