package signalling

import (
	"context"
	"sync"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// endedKeep is how long Calls remembers how a call ended, so that a caller
// whose connection was down when the call ended learns the reason when it
// resumes.
const endedKeep = 2 * time.Minute

// maxEnded bounds the ended calls Calls remembers.
const maxEnded = 64

// Resumable is a live call that a resume may join.
type Resumable interface {
	// Resume takes in.Conn, a new connection for the call whose first
	// message was a resume from the call's peer, and returns nil; or it
	// returns why not (such as ReasonNotResumable while the call rings),
	// leaving in.Conn to the caller.
	Resume(ctx context.Context, in *Incoming) *Refusal
}

// Calls is the register of a callee's calls, for a Server to hand resumes
// to. The zero value is ready to use; it is safe for concurrent use.
type Calls struct {
	mu    sync.Mutex
	live  map[string]liveCall
	ended map[string]endedCall
}

type liveCall struct {
	peer lokinet.Address
	call Resumable
}

type endedCall struct {
	peer lokinet.Address
	end  Refusal
	at   time.Time
}

// Add registers the call callID with peer. The returned function removes
// it once the call has ended with end (a hangup or reject and its reason),
// which a resume of the call then receives for a while.
func (c *Calls) Add(callID string, peer lokinet.Address, call Resumable) (ended func(end Refusal)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		c.live = map[string]liveCall{}
	}
	c.live[callID] = liveCall{peer: peer, call: call}
	return func(end Refusal) {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.live, callID)
		if c.ended == nil {
			c.ended = map[string]endedCall{}
		}
		now := time.Now()
		for id, e := range c.ended {
			if now.Sub(e.at) > endedKeep || len(c.ended) >= maxEnded {
				delete(c.ended, id)
			}
		}
		c.ended[callID] = endedCall{peer: peer, end: end, at: now}
	}
}

// resume hands in to the live call it names, if in.Caller is that call's
// peer, and returns nil; otherwise it returns the refusal to send. A call
// of another caller is refused exactly as one that does not exist.
func (c *Calls) resume(ctx context.Context, in *Incoming) *Refusal {
	noSuchCall := &Refusal{Type: TypeReject, Reason: ReasonNoSuchCall}
	if c == nil {
		return noSuchCall
	}
	c.mu.Lock()
	l, live := c.live[in.Offer.CallID]
	e, ended := c.ended[in.Offer.CallID]
	c.mu.Unlock()
	switch {
	case live && l.peer == in.Caller:
		return l.call.Resume(ctx, in)
	case ended && e.peer == in.Caller && time.Since(e.at) <= endedKeep:
		end := e.end
		return &end
	}
	return noSuchCall
}
