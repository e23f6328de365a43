package media

import (
	"math"
	"sync"
)

// MinLevel is the floor of Meter levels, in dBFS: digital silence reads as
// MinLevel rather than -Inf so that levels encode as JSON numbers.
const MinLevel = -127.0

// Meter measures the level of the audio passing through it. Levels are RMS
// in dBFS on the AES17 scale, where a full-scale sine reads 0 dBFS (and the
// tone source reads -12 dBFS). Update and the readers may run on different
// goroutines. The zero value is ready and reads MinLevel.
type Meter struct {
	mu      sync.Mutex
	level   float64
	peak    float64
	updated bool
}

// Update measures pcm, normally one frame.
func (m *Meter) Update(pcm []int16) {
	if len(pcm) == 0 {
		return
	}
	var sum float64
	for _, s := range pcm {
		v := float64(s)
		sum += v * v
	}
	l := rmsDBFS(math.Sqrt(sum / float64(len(pcm))))
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.updated || l > m.peak {
		m.peak = l
	}
	m.level = l
	m.updated = true
}

// Level returns the level of the last Update, in dBFS.
func (m *Meter) Level() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.updated {
		return MinLevel
	}
	return m.level
}

// Peak returns the highest level since the previous Peak call (peak hold
// for a display that polls), in dBFS, and starts a new hold period.
func (m *Meter) Peak() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.updated {
		return MinLevel
	}
	p := m.peak
	m.peak = m.level
	return p
}

// rmsDBFS converts an RMS amplitude in int16 units to AES17 dBFS.
func rmsDBFS(rms float64) float64 {
	if rms <= 0 {
		return MinLevel
	}
	return max(20*math.Log10(rms*math.Sqrt2/32768), MinLevel)
}
