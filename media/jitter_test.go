package media_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
)

// jbOp is one step of a jitter buffer script: push a packet, or pop and
// expect a slot.
type jbOp struct {
	push   bool
	seq    uint16
	status media.Status // for pops
	next   int          // for Missing pops: the seq expected in Next, or -1 for none
}

func push(seq uint16) jbOp { return jbOp{push: true, seq: seq} }
func ready(seq uint16) jbOp {
	return jbOp{seq: seq, status: media.Ready}
}
func missing(seq uint16, next int) jbOp {
	return jbOp{seq: seq, status: media.Missing, next: next}
}

var empty = jbOp{status: media.Empty}

// payloadOf is the payload the scripts give packet seq.
func payloadOf(seq uint16) []byte { return []byte(fmt.Sprintf("pkt-%d", seq)) }

func TestJitterBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []jbOp
		want media.JitterStats
	}{
		{
			name: "in order, starts at target delay",
			ops: []jbOp{push(10), empty, push(11), empty, push(12),
				ready(10), push(13), ready(11), ready(12), ready(13)},
			want: media.JitterStats{Received: 4},
		},
		{
			name: "reorder",
			ops: []jbOp{push(1), push(3), push(2), ready(1), push(5), push(4),
				ready(2), ready(3), ready(4), ready(5)},
			want: media.JitterStats{Received: 5},
		},
		{
			name: "reordered ahead of the first packet before playout",
			ops:  []jbOp{push(5), push(4), push(6), ready(4), ready(5), ready(6)},
			want: media.JitterStats{Received: 3},
		},
		{
			name: "duplicate",
			ops:  []jbOp{push(1), push(1), push(2), push(3), push(2), ready(1), ready(2), ready(3)},
			want: media.JitterStats{Received: 5, Duplicate: 2},
		},
		{
			name: "late",
			ops: []jbOp{push(1), push(3), push(4), ready(1), missing(2, 3), push(2),
				ready(3), ready(4)},
			want: media.JitterStats{Received: 4, Late: 1, Lost: 1},
		},
		{
			name: "loss with and without Next",
			ops: []jbOp{push(1), push(4), push(6), push(7), ready(1), missing(2, -1), missing(3, 4),
				ready(4), missing(5, 6), ready(6), ready(7)},
			want: media.JitterStats{Received: 4, Lost: 3},
		},
		{
			name: "wrap-around at 65535",
			ops: []jbOp{push(65534), push(0), push(65535), push(1), ready(65534), ready(65535),
				ready(0), ready(1)},
			want: media.JitterStats{Received: 4},
		},
		{
			name: "wrap-around with loss across it",
			ops: []jbOp{push(65533), push(65534), push(1), ready(65533), ready(65534),
				missing(65535, -1), missing(0, 1), ready(1)},
			want: media.JitterStats{Received: 3, Lost: 2},
		},
		{
			name: "underrun then the late packet still plays",
			ops: []jbOp{push(1), push(2), push(3), ready(1), ready(2), ready(3), empty, empty,
				push(4), ready(4), empty},
			want: media.JitterStats{Received: 4, Underruns: 3},
		},
		{
			name: "not started",
			ops:  []jbOp{empty, empty, push(9), empty, push(10), empty},
			want: media.JitterStats{Received: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jb, err := media.NewJitterBuffer(media.JitterConfig{Fixed: true})
			if err != nil {
				t.Fatal(err)
			}
			runScript(t, jb, tc.ops)
			if got := jb.Stats(); got != tc.want {
				t.Errorf("Stats = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func runScript(t *testing.T, jb *media.JitterBuffer, ops []jbOp) {
	t.Helper()
	arrival := time.Unix(1000, 0)
	for i, op := range ops {
		if op.push {
			jb.Push(op.seq, uint32(op.seq)*960, payloadOf(op.seq), arrival)
			arrival = arrival.Add(20 * time.Millisecond)
			continue
		}
		s := jb.Pop()
		if s.Status != op.status {
			t.Fatalf("op %d: Pop status %v, want %v (slot %+v)", i, s.Status, op.status, s)
		}
		switch op.status {
		case media.Ready:
			if s.Seq != op.seq || string(s.Payload) != string(payloadOf(op.seq)) {
				t.Fatalf("op %d: Pop = seq %d %q, want seq %d", i, s.Seq, s.Payload, op.seq)
			}
		case media.Missing:
			if s.Seq != op.seq {
				t.Fatalf("op %d: Missing seq %d, want %d", i, s.Seq, op.seq)
			}
			switch {
			case op.next < 0 && s.Next != nil:
				t.Fatalf("op %d: Next = %q, want none", i, s.Next)
			case op.next >= 0 && string(s.Next) != string(payloadOf(uint16(op.next))):
				t.Fatalf("op %d: Next = %q, want packet %d", i, s.Next, op.next)
			}
		}
	}
}

func TestJitterBufferBounded(t *testing.T) {
	jb, err := media.NewJitterBuffer(media.JitterConfig{Fixed: true, MaxDelay: 200 * time.Millisecond, CatchUp: -1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	for seq := range uint16(25) {
		jb.Push(seq, uint32(seq)*960, payloadOf(seq), now)
	}
	if d := jb.Delay(); d != 200*time.Millisecond {
		t.Errorf("Delay = %v, want the 200 ms bound", d)
	}
	if st := jb.Stats(); st.Dropped != 15 {
		t.Errorf("Dropped = %d, want 15", st.Dropped)
	}
	if s := jb.Pop(); s.Status != media.Ready || s.Seq != 15 {
		t.Errorf("Pop = %v seq %d, want ready 15 (the oldest kept)", s.Status, s.Seq)
	}
	// A far jump ahead (sender restart) keeps only the new packet's window.
	jb.Push(5000, 0, payloadOf(5000), now)
	if s := jb.Pop(); s.Status != media.Missing || s.Seq != 4991 {
		t.Errorf("after a jump Pop = %v seq %d, want missing 4991", s.Status, s.Seq)
	}
}

func TestJitterBufferCatchUp(t *testing.T) {
	jb, err := media.NewJitterBuffer(media.JitterConfig{Fixed: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	for seq := range uint16(3) {
		jb.Push(seq, uint32(seq)*960, payloadOf(seq), now)
	}
	for range 3 {
		jb.Pop()
	}
	// A stall of 400 ms, then the whole backlog at once.
	for seq := uint16(3); seq < 23; seq++ {
		jb.Push(seq, uint32(seq)*960, payloadOf(seq), now)
	}
	if d := jb.Delay(); d != 400*time.Millisecond {
		t.Fatalf("Delay = %v, want 400ms", d)
	}
	s := jb.Pop()
	if s.Status != media.Ready || s.Seq != 20 {
		t.Errorf("Pop after burst = %v seq %d, want ready 20 (caught up to the 60 ms target)", s.Status, s.Seq)
	}
	if st := jb.Stats(); st.Dropped != 17 {
		t.Errorf("Dropped = %d, want 17", st.Dropped)
	}
	if d := jb.Delay(); d != 40*time.Millisecond {
		t.Errorf("Delay after catching up = %v, want 40ms", d)
	}
}

func TestJitterEstimate(t *testing.T) {
	jb, err := media.NewJitterBuffer(media.JitterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(0, 0)
	// Perfectly regular arrivals: no jitter.
	for seq := range uint16(50) {
		jb.Push(seq, uint32(seq)*960, nil, start.Add(time.Duration(seq)*20*time.Millisecond))
	}
	if j := jb.Jitter(); j != 0 {
		t.Errorf("Jitter with regular arrivals = %v, want 0", j)
	}
	// Arrivals alternating 10 ms early and late: |D| = 20 ms each time, so J
	// converges to 20 ms.
	for seq := uint16(50); seq < 400; seq++ {
		off := 10 * time.Millisecond
		if seq%2 == 0 {
			off = -off
		}
		jb.Push(seq, uint32(seq)*960, nil, start.Add(time.Duration(seq)*20*time.Millisecond+off))
	}
	if j := jb.Jitter(); j < 19*time.Millisecond || j > 21*time.Millisecond {
		t.Errorf("Jitter = %v, want about 20ms", j)
	}
}

func TestJitterConfigErrors(t *testing.T) {
	for _, cfg := range []media.JitterConfig{
		{FrameDuration: 15 * time.Millisecond},
		{TargetDelay: -time.Second},
		{TargetDelay: 3 * time.Second},
		{MaxDelay: 5 * time.Millisecond},
		{MaxDelay: time.Hour},
	} {
		if _, err := media.NewJitterBuffer(cfg); !errors.Is(err, media.ErrBadConfig) {
			t.Errorf("NewJitterBuffer(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
}

func BenchmarkJitterPushPop(b *testing.B) {
	jb, err := media.NewJitterBuffer(media.JitterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 80)
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		seq := uint16(i)
		jb.Push(seq, uint32(i)*960, payload, now)
		jb.Pop()
		now = now.Add(20 * time.Millisecond)
	}
}
