package onion

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The measured traces shipped in testnet/traces parse, with the counts
// their README gives.
func TestMeasuredTracesParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file        string
		rows, lost  int
		minS, maxS  float64
		medianRange [2]float64 // ms
	}{
		{"lokinet-0.9.11-ping-50pps-a.csv", 8000, 1, 170, 180, [2]float64{10, 40}},
		{"lokinet-0.9.11-ping-50pps-b.csv", 5694, 0, 120, 130, [2]float64{10, 40}},
	} {
		tr, err := LoadTrace("../traces/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		rtts := tr.RTTs()
		if tr.Len() != tt.rows || tr.Len()-len(rtts) != tt.lost {
			t.Errorf("%s: %d rows, %d lost; want %d, %d", tt.file, tr.Len(), tr.Len()-len(rtts), tt.rows, tt.lost)
		}
		if s := tr.Length().Seconds(); s < tt.minS || s > tt.maxS {
			t.Errorf("%s: covers %.1f s", tt.file, s)
		}
		d, lost := tr.OneWay(0)
		if lost || d <= 0 {
			t.Errorf("%s: first probe one-way %v lost %v", tt.file, d, lost)
		}
		for i := 1; i < tr.Len(); i++ {
			if tr.send[i] < tr.send[i-1] {
				t.Fatalf("%s: probe %d sent at %v, before probe %d at %v", tt.file, i, tr.send[i], i-1, tr.send[i-1])
			}
		}
		if d2, _ := tr.OneWay(tr.Length()); d2 != d {
			t.Errorf("%s: replay does not loop: %v at the length, %v at 0", tt.file, d2, d)
		}
	}
}

func TestParseTraceRejects(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"empty":                  "",
		"header":                 "seq,send,rtt\n0,0,1\n",
		"fields":                 traceHeader + "\n0,0\n",
		"seq gap":                traceHeader + "\n0,0,1\n2,0.04,1\n",
		"seq text":               traceHeader + "\nx,0,1\n",
		"time back":              traceHeader + "\n0,1,1\n1,0.5,1\n",
		"time back after a loss": traceHeader + "\n0,1,1\n1,0.5,\n2,0.7,1\n",
		"negative time":          traceHeader + "\n0,-1,1\n",
		"nan time":               traceHeader + "\n0,NaN,1\n",
		"negative rtt":           traceHeader + "\n0,0,-3\n",
		"inf rtt":                traceHeader + "\n0,0,Inf\n",
		"no reply":               traceHeader + "\n0,0,\n1,0.02,\n",
		"long line":              traceHeader + "\n0,0," + strings.Repeat("1", 5000) + "\n",
	} {
		if _, err := ParseTrace(strings.NewReader(in)); !errors.Is(err, ErrBadTrace) {
			t.Errorf("%s: err = %v, want ErrBadTrace", name, err)
		}
	}
	// A lost probe's nominal time (here far off) is placed between its
	// neighbours.
	tr, err := ParseTrace(strings.NewReader(traceHeader + "\n0,0,10\n1,9.5,\n2,0.04,30\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Duration
		want time.Duration
		lost bool
	}{{0, 5 * time.Millisecond, false}, {25 * time.Millisecond, 0, true}, {45 * time.Millisecond, 15 * time.Millisecond, false}, {65 * time.Millisecond, 5 * time.Millisecond, false}} {
		if d, lost := tr.OneWay(c.at); d != c.want || lost != c.lost {
			t.Errorf("OneWay(%v) = %v, %v; want %v, %v", c.at, d, lost, c.want, c.lost)
		}
	}
}

func FuzzParseTrace(f *testing.F) {
	f.Add(traceHeader + "\n0,0,10\n1,0.02,\n2,0.04,30\n")
	f.Add(traceHeader + "\n0,0.000000,21.6\n1,0.021766,17.9\n")
	f.Add("seq,send_s,rtt_ms\r\n0,1e3,1e-3\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := ParseTrace(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrBadTrace) {
				t.Fatalf("error %v does not wrap ErrBadTrace", err)
			}
			return
		}
		if tr.Len() == 0 || len(tr.RTTs()) == 0 || tr.Length() <= 0 {
			t.Fatalf("accepted a trace of %d rows, %d replies, %v long", tr.Len(), len(tr.RTTs()), tr.Length())
		}
		for i := 1; i < tr.Len(); i++ {
			if tr.send[i] < tr.send[i-1] {
				t.Fatalf("send times not in order at %d: %v", i, tr.send)
			}
		}
		for _, at := range []time.Duration{0, tr.Length() / 2, tr.Length(), 3*tr.Length() + 1} {
			if d, lost := tr.OneWay(at); d < 0 || (lost && d != 0) {
				t.Fatalf("OneWay(%v) = %v, %v", at, d, lost)
			}
		}
	})
}
