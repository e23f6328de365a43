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
		list[i] = DeviceInfo{Kind: kind, Index: i, Name: raw[i].Name(), ID: raw[i].ID.String(), Default: raw[i].IsDefault != 0}
	}
	return list, raw, nil
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
	primed  bool    // playback: a frame has been written (underruns count from then)

	closeOnce sync.Once
}

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
	cfg.PeriodSizeInFrames = granuleSamples
	sub := &cfg.Capture
	if kind == DevicePlayback {
		sub = &cfg.Playback
	}
	sub.Format = malgo.FormatS16
	sub.Channels = 1
	label := "default"
	if chosen != nil {
		label = chosen.Name
		// malgo copies the ID into C memory, which miniaudio reads during
		// InitDevice only.
		id := raw[chosen.Index].ID.Pointer()
		defer C.free(id)
		sub.DeviceID = id
	}
	d := &malgoDevice{kind: kind, name: label, log: log, mctx: mctx, ring: newSampleRing(deviceRingSamples)}
	dev, err := malgo.InitDevice(mctx.Context, cfg, malgo.DeviceCallbacks{Data: d.onData})
	if err != nil {
		freeMalgoContext(mctx)
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

// onData is miniaudio's data callback, on its own thread.
func (d *malgoDevice) onData(out, in []byte, frames uint32) {
	n := int(frames)
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
	got := d.ring.readAvailable(s)
	clear(s[got:])
	if got < n {
		d.ring.mu.Lock()
		if d.primed {
			d.ring.short += uint64(n - got)
		}
		d.ring.mu.Unlock()
	}
	for i, v := range s {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
}

// close stops the device and frees it and its context.
func (d *malgoDevice) close() error {
	d.closeOnce.Do(func() {
		d.ring.close()
		d.dev.Uninit()
		freeMalgoContext(d.mctx)
		d.ring.mu.Lock()
		d.log.Debug("media: device closed", "kind", d.kind, "name", d.name,
			"dropped_samples", d.ring.dropped, "short_samples", d.ring.short)
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
	if err := s.d.ring.readFull(ctx, pcm); err != nil {
		if errors.Is(err, ErrClosed) {
			return fmt.Errorf("media: capture device: %w", ErrClosed)
		}
		return err
	}
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

// WriteFrame queues pcm for playback; if more than 200 ms are queued the
// oldest audio is dropped, which bounds the playback delay.
func (s *deviceSink) WriteFrame(pcm []int16) error {
	if s.d.ring.isClosed() {
		return fmt.Errorf("media: playback device: %w", ErrClosed)
	}
	s.d.ring.mu.Lock()
	s.d.primed = true
	s.d.ring.mu.Unlock()
	s.d.ring.write(pcm)
	return nil
}

func (s *deviceSink) Close() error { return s.d.close() }
