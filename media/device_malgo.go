package media

// #include <stdlib.h>
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gen2brain/malgo"
)

// realBackends is every miniaudio backend except custom and null. In malgo
// v0.11.24 malgo.BackendNull (13) is really ma_backend_custom and the null
// backend is 14 (DESIGN §3a); a default context would fall back to the null
// backend and "open" a device that does not exist, so list the real ones.
// Backends not built for this platform are skipped by miniaudio.
var realBackends = []malgo.Backend{
	malgo.BackendWasapi, malgo.BackendDsound, malgo.BackendWinmm, malgo.BackendCoreaudio,
	malgo.BackendSndio, malgo.BackendAudio4, malgo.BackendOss, malgo.BackendPulseaudio,
	malgo.BackendAlsa, malgo.BackendJack, malgo.BackendAaudio, malgo.BackendOpensl,
	malgo.BackendWebaudio,
}

// newMalgoContext initialises a miniaudio context over the real backends,
// logging miniaudio's messages at debug level.
func newMalgoContext(log *slog.Logger) (*malgo.AllocatedContext, error) {
	quietAudioSystem()
	mctx, err := malgo.InitContext(realBackends, malgo.ContextConfig{}, func(msg string) {
		log.Debug("media: miniaudio", "msg", strings.TrimSpace(msg))
	})
	if err != nil {
		return nil, fmt.Errorf("%w: no audio system: %w", ErrNoDevice, err)
	}
	return mctx, nil
}

// freeMalgoContext releases a context from newMalgoContext.
func freeMalgoContext(mctx *malgo.AllocatedContext) {
	_ = mctx.Uninit()
	mctx.Free()
}

// listMalgo lists the devices of kind in mctx.
func listMalgo(mctx *malgo.AllocatedContext, kind DeviceKind) ([]DeviceInfo, []malgo.DeviceInfo, error) {
	mk := malgo.Capture
	if kind == DevicePlayback {
		mk = malgo.Playback
	}
	raw, err := mctx.Devices(mk)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: list %s devices: %w", ErrNoDevice, kind, err)
	}
	list := make([]DeviceInfo, len(raw))
	for i := range raw {
		list[i] = DeviceInfo{Kind: kind, Index: i, Name: raw[i].Name(), ID: idString(raw[i].ID), Default: raw[i].IsDefault != 0}
	}
	return list, raw, nil
}

// idString returns a device ID as text where the backend's IDs are text (a
// NUL-terminated printable string: ALSA, PulseAudio, sndio, Core Audio),
// else as hex.
func idString(id malgo.DeviceID) string {
	end := 0
	for end < len(id) && id[end] != 0 {
		end++
	}
	text := end > 0 && utf8.Valid(id[:end])
	for _, b := range id[:end] {
		text = text && b >= 0x20 && b != 0x7f
	}
	for _, b := range id[end:] {
		text = text && b == 0
	}
	if !text {
		return id.String()
	}
	return string(id[:end])
}

// textID returns name as a backend device ID, for a name no listed device
// has: ALSA opens any PCM by its name, listed or not.
func textID(name string) (malgo.DeviceID, bool) {
	var id malgo.DeviceID
	if name == "" || len(name) >= len(id) || strings.ContainsRune(name, 0) {
		return id, false
	}
	copy(id[:], name)
	return id, true
}

// ListDevices lists the capture and then the playback devices of the audio
// system. With no audio system at all it returns an error wrapping
// ErrNoDevice; with no devices, an empty list. It returns ctx.Err() if ctx
// ends first (the enumeration itself cannot be interrupted).
func ListDevices(ctx context.Context) ([]DeviceInfo, error) {
	type result struct {
		list []DeviceInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		mctx, err := newMalgoContext(slog.New(slog.DiscardHandler))
		if err != nil {
			done <- result{err: fmt.Errorf("media: list devices: %w", err)}
			return
		}
		defer freeMalgoContext(mctx)
		var all []DeviceInfo
		for _, kind := range []DeviceKind{DeviceCapture, DevicePlayback} {
			list, _, err := listMalgo(mctx, kind)
			if err != nil {
				done <- result{err: fmt.Errorf("media: list devices: %w", err)}
				return
			}
			all = append(all, list...)
		}
		done <- result{list: all}
	}()
	select {
	case r := <-done:
		return r.list, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// malgoDevice is one open miniaudio device with the ring buffer its
// callback fills (capture) or drains (playback).
type malgoDevice struct {
	kind    DeviceKind
	name    string
	log     *slog.Logger
	mctx    *malgo.AllocatedContext
	dev     *malgo.Device
	ring    *sampleRing
	scratch []int16 // callback-only conversion buffer
	pace    pacer   // callback-only

	// Playback, under ring.mu: primed once a frame has been written
	// (underruns count from then); playing while the ring is being drained,
	// false again after an underrun until startAt samples are queued.
	primed, playing bool
	startAt         int
	// Capture, reader-only: the first ReadFrame drops the backlog captured
	// before anyone read.
	read bool

	closeOnce sync.Once
}

// devicePeriods is how many periods a device's buffer holds.
const devicePeriods = 3

// openMalgo opens and starts the device of kind that name selects (the
// default when empty) at 48 kHz mono S16 with 10 ms periods.
func openMalgo(kind DeviceKind, name string, log *slog.Logger) (*malgoDevice, error) {
	mctx, err := newMalgoContext(log)
	if err != nil {
		return nil, err
	}
	list, raw, err := listMalgo(mctx, kind)
	if err != nil {
		freeMalgoContext(mctx)
		return nil, err
	}
	chosen, err := matchDevice(list, kind, name)
	var rawID *malgo.DeviceID
	if um := (unmatchedError{}); errors.As(err, &um) {
		// Not listed: try the name as the backend's ID; if that does not
		// open either, the listing's error is the one to report.
		if id, ok := textID(name); ok {
			rawID, err = &id, nil
		}
	}
	if err != nil {
		freeMalgoContext(mctx)
		return nil, err
	}
	mk := malgo.Capture
	if kind == DevicePlayback {
		mk = malgo.Playback
	}
	cfg := malgo.DefaultDeviceConfig(mk)
	cfg.SampleRate = SampleRate
	// 10 ms periods, three to the device buffer (at most 30 ms queued in
	// the device): short enough for conversation, long enough that a busy
	// machine's scheduling does not underrun.
	cfg.PeriodSizeInFrames = granuleSamples
	cfg.Periods = devicePeriods
	sub := &cfg.Capture
	if kind == DevicePlayback {
		sub = &cfg.Playback
	}
	sub.Format = malgo.FormatS16
	sub.Channels = 1
	label := "default"
	if chosen != nil {
		label = chosen.Name
		rawID = &raw[chosen.Index].ID
	} else if rawID != nil {
		label = name
	}
	if rawID != nil {
		// malgo copies the ID into C memory, which miniaudio reads during
		// InitDevice only.
		id := rawID.Pointer()
		defer C.free(id)
		sub.DeviceID = id
	}
	d := &malgoDevice{kind: kind, name: label, log: log, mctx: mctx, ring: newSampleRing(deviceRingSamples)}
	d.pace = pacer{now: time.Now, sleep: time.Sleep}
	dev, err := malgo.InitDevice(mctx.Context, cfg, malgo.DeviceCallbacks{Data: d.onData})
	if err != nil {
		freeMalgoContext(mctx)
		if chosen == nil && rawID != nil {
			_, lerr := matchDevice(list, kind, name)
			return nil, fmt.Errorf("%w (opening it as a device ID: %w)", lerr, err)
		}
		return nil, fmt.Errorf("%w: open %s device %q: %w", ErrNoDevice, kind, label, err)
	}
	d.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		freeMalgoContext(mctx)
		return nil, fmt.Errorf("%w: start %s device %q: %w", ErrNoDevice, kind, label, err)
	}
	log.Debug("media: device opened", "kind", kind, "name", label)
	return d, nil
}

// onData is miniaudio's data callback, on its own thread. A clockless
// device (see clocklessAfter) is paced here: the callback returns when the
// audio it moved is due by the system clock, which blocks miniaudio's
// device thread exactly as a real device's clock would.
func (d *malgoDevice) onData(out, in []byte, frames uint32) {
	n := int(frames)
	if d.pace.after(n) {
		// The anchor maps the device's stream to the system clock: sample
		// anchor_sample is due at anchor_unix_ns, each later one 1/48000 s
		// after the one before, until the next anchor (what a measurement
		// of the device needs). A later anchor follows a stall.
		msg := "media: device has no clock of its own, pacing it by the system clock"
		if d.pace.resyncs > 0 {
			msg = "media: device has no clock of its own and fell behind, pacing it from now"
		}
		d.log.Debug(msg, "kind", d.kind, "name", d.name,
			"anchor_unix_ns", d.pace.anchor.UnixNano(), "anchor_sample", d.pace.anchorFrames)
	}
	if cap(d.scratch) < n {
		d.scratch = make([]int16, n)
	}
	s := d.scratch[:n]
	if d.kind == DeviceCapture {
		if len(in) < 2*n {
			return
		}
		for i := range s {
			s[i] = int16(binary.LittleEndian.Uint16(in[2*i:]))
		}
		d.ring.write(s)
		return
	}
	if len(out) < 2*n {
		return
	}
	d.fillPlayback(s)
	for i, v := range s {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
}

// fillPlayback fills s from the ring: silence until startAt samples are
// queued, then the queue; an underrun plays what there is, then silence,
// and waits for startAt samples again.
func (d *malgoDevice) fillPlayback(s []int16) {
	q := d.ring
	q.mu.Lock()
	defer q.mu.Unlock()
	if !d.playing && (!d.primed || q.n < d.startAt) {
		clear(s)
		return
	}
	d.playing = true
	got := q.readLocked(s)
	if got < len(s) {
		clear(s[got:])
		q.short += uint64(len(s) - got)
		d.playing = false
		return
	}
	// A device with periods longer than 10 ms needs more in hand.
	keep := max(playbackKeep, 2*len(s))
	q.trimLocked(len(s), keep, keep+playbackTrimAbove-playbackKeep)
}

// close stops the device and frees it and its context.
func (d *malgoDevice) close() error {
	d.closeOnce.Do(func() {
		d.ring.close()
		d.dev.Uninit()
		freeMalgoContext(d.mctx)
		d.ring.mu.Lock()
		d.log.Debug("media: device closed", "kind", d.kind, "name", d.name,
			"dropped_samples", d.ring.dropped, "short_samples", d.ring.short,
			"trimmed_samples", d.ring.trimmed, "clockless", d.pace.clockless, "resyncs", d.pace.resyncs)
		d.ring.mu.Unlock()
	})
	return nil
}

// deviceSource is a capture device as a Source.
type deviceSource struct{ d *malgoDevice }

func openDeviceSource(name string, log *slog.Logger) (Source, error) {
	d, err := openMalgo(DeviceCapture, name, log)
	if err != nil {
		return nil, err
	}
	return &deviceSource{d: d}, nil
}

// Clocked reports true: ReadFrame waits for the device.
func (s *deviceSource) Clocked() bool { return true }

// ReadFrame blocks until the device has captured len(pcm) samples.
func (s *deviceSource) ReadFrame(ctx context.Context, pcm []int16) error {
	if err := checkFrame(len(pcm)); err != nil || len(pcm) > deviceRingSamples {
		return fmt.Errorf("media: capture device: %w: %d samples", ErrFrameSize, len(pcm))
	}
	if !s.d.read {
		// Audio captured before the first read (while the call was being
		// set up) is stale: keep at most one frame of it.
		s.d.read = true
		s.d.ring.discardBacklog(len(pcm))
	}
	if err := s.d.ring.readFull(ctx, pcm); err != nil {
		if errors.Is(err, ErrClosed) {
			return fmt.Errorf("media: capture device: %w", ErrClosed)
		}
		return err
	}
	s.d.ring.trim(len(pcm), captureKeep, captureTrimAbove)
	return nil
}

func (s *deviceSource) Close() error { return s.d.close() }

// deviceSink is a playback device as a Sink.
type deviceSink struct{ d *malgoDevice }

func openDeviceSink(name string, log *slog.Logger) (Sink, error) {
	d, err := openMalgo(DevicePlayback, name, log)
	if err != nil {
		return nil, err
	}
	return &deviceSink{d: d}, nil
}

// Clocked reports true: the device plays at its own rate.
func (s *deviceSink) Clocked() bool { return true }

// WriteFrame queues pcm for playback. Playback starts (and restarts after
// an underrun) once a frame and 20 ms more are queued; a backlog that does
// not drain is trimmed (drift), and if more than 200 ms are queued the
// oldest audio is dropped, which bounds the playback delay.
func (s *deviceSink) WriteFrame(pcm []int16) error {
	if s.d.ring.isClosed() {
		return fmt.Errorf("media: playback device: %w", ErrClosed)
	}
	s.d.ring.mu.Lock()
	s.d.primed = true
	s.d.startAt = min(len(pcm)+playbackMargin, deviceRingSamples/2)
	s.d.ring.mu.Unlock()
	s.d.ring.write(pcm)
	return nil
}

func (s *deviceSink) Close() error { return s.d.close() }
