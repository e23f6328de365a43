package measure

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzReadStamps checks that ReadStamps never panics, refuses with
// ErrBadStamps (or the scanner's error for an over-long line), and that what
// it accepts has positive frame sizes and survives WriteStamps and
// ReadStamps unchanged, to the nanosecond.
func FuzzReadStamps(f *testing.F) {
	t0 := time.Unix(1700000000, 123456789)
	for _, stamps := range [][]Stamp{
		nil,
		{{Sample: 0, Samples: 480, Time: t0}},
		{{Sample: 0, Samples: 960, Time: t0}, {Sample: 960, Samples: 960, Time: t0.Add(20 * time.Millisecond)}, {Sample: 1920, Samples: 120, Time: t0.Add(41 * time.Millisecond)}},
		{{Sample: -5, Samples: math.MaxInt64, Time: time.Unix(0, math.MinInt64)}, {Sample: math.MaxInt64, Samples: 1, Time: time.Unix(0, math.MaxInt64)}},
	} {
		var b bytes.Buffer
		if err := WriteStamps(&b, stamps); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	for _, s := range []string{
		"", "\n\n", "1,2\n", "1,0,5\n", "1,-2,5\n", "a,b,c\n", "1, 2,3\n", " 1,2,3 \r\n",
		stampHeader + "\n" + stampHeader + "\n", "\n" + stampHeader + "\n1,2,3\n",
		"+1,+2,-3\n007,08,-0\n", "1,2,9223372036854775808\n", "1,2,3,\n", "\x00\xff,\x01",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stamps, err := ReadStamps(bytes.NewReader(data))
		if err != nil {
			if stamps != nil || !errors.Is(err, ErrBadStamps) && !errors.Is(err, bufio.ErrTooLong) {
				t.Fatalf("ReadStamps(%q) = %v, %v", data, stamps, err)
			}
			return
		}
		for _, s := range stamps {
			if s.Samples <= 0 {
				t.Fatalf("ReadStamps(%q) accepted %+v", data, s)
			}
		}
		var b bytes.Buffer
		if err := WriteStamps(&b, stamps); err != nil {
			t.Fatal(err)
		}
		again, err := ReadStamps(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("ReadStamps(%q) accepted %v, but not its WriteStamps %q: %v", data, stamps, b.Bytes(), err)
		}
		if len(again) != len(stamps) {
			t.Fatalf("%q: %d stamps, %d after WriteStamps and ReadStamps", data, len(stamps), len(again))
		}
		for i, s := range stamps {
			a := again[i]
			if a.Sample != s.Sample || a.Samples != s.Samples || !a.Time.Equal(s.Time) || a.Time.UnixNano() != s.Time.UnixNano() {
				t.Fatalf("%q: stamp %d is %+v, %+v after WriteStamps and ReadStamps", data, i, s, a)
			}
		}
	})
}
