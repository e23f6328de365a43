package media

import (
	"fmt"
	"time"

	"github.com/hraban/opus"
)

// Encoder defaults.
const (
	DefaultBitrate             = 32000
	DefaultExpectedLossPercent = 10
	// DefaultComplexity is the Opus encoder complexity lokicall uses,
	// chosen by measurement (TestComplexityQuality, BenchmarkEncodeComplexity,
	// call's BenchmarkSendPath): on speech-like audio complexities 1 to 5
	// give the same log-spectral distance and 8 to 10 about 1.3 dB less at
	// twice the CPU; 3 keeps the whole call (send path plus receive path)
	// under 2 % of one core at 20 ms frames, where 5 does not.
	DefaultComplexity = 3
)

// maxPacket is the largest Opus packet (RFC 6716 §3.4: 1275 bytes per frame,
// up to 3 frames for 60 ms, plus framing).
const maxPacket = 4000

// maxFrameSamples is the longest Opus frame, 120 ms.
const maxFrameSamples = SampleRate * 120 / 1000

// EncoderConfig configures NewEncoder. The zero value gives the defaults:
// 32 kbit/s, 20 ms frames, in-band FEC on, tuned for 10 % loss, complexity
// DefaultComplexity.
//
// FEC is switched off by DisableFEC rather than on by a FEC field, so that
// the zero value keeps FEC on.
type EncoderConfig struct {
	Bitrate             int           // bits per second, 6000..510000; 0: DefaultBitrate
	FrameDuration       time.Duration // 10, 20, 40 or 60 ms; 0: FrameDuration (20 ms)
	DisableFEC          bool          // turn in-band FEC off (it is on by default)
	ExpectedLossPercent int           // 1..100, tunes FEC redundancy; 0: DefaultExpectedLossPercent
	Complexity          int           // 1..10, CPU against quality; 0: DefaultComplexity
}

// Encoder turns 48 kHz mono frames into Opus packets: application VoIP, hard
// constant bitrate (every packet of a given frame duration has the same
// size, silence included), DTX off, in-band FEC on unless disabled. These
// settings are fixed because variable packet sizes and silence gaps leak
// speech content on an onion path (DESIGN §4). An Encoder is not safe for
// concurrent use.
type Encoder struct {
	enc     *opus.Encoder
	cfg     EncoderConfig
	samples int
	buf     []byte
}

// NewEncoder returns an encoder configured by cfg (see EncoderConfig for the
// defaults). An invalid cfg gives an error wrapping ErrBadConfig.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if cfg.Bitrate == 0 {
		cfg.Bitrate = DefaultBitrate
	}
	if cfg.FrameDuration == 0 {
		cfg.FrameDuration = FrameDuration
	}
	if cfg.ExpectedLossPercent == 0 {
		cfg.ExpectedLossPercent = DefaultExpectedLossPercent
	}
	if cfg.Complexity == 0 {
		cfg.Complexity = DefaultComplexity
	}
	switch {
	case cfg.Bitrate < 6000 || cfg.Bitrate > 510000:
		return nil, fmt.Errorf("media: new encoder: %w: bitrate %d outside 6000..510000", ErrBadConfig, cfg.Bitrate)
	case cfg.FrameDuration != 10*time.Millisecond && cfg.FrameDuration != 20*time.Millisecond &&
		cfg.FrameDuration != 40*time.Millisecond && cfg.FrameDuration != 60*time.Millisecond:
		return nil, fmt.Errorf("media: new encoder: %w: frame duration %v is not 10, 20, 40 or 60 ms", ErrBadConfig, cfg.FrameDuration)
	case cfg.ExpectedLossPercent < 0 || cfg.ExpectedLossPercent > 100:
		return nil, fmt.Errorf("media: new encoder: %w: expected loss %d%% outside 0..100", ErrBadConfig, cfg.ExpectedLossPercent)
	case cfg.Complexity < 1 || cfg.Complexity > 10:
		return nil, fmt.Errorf("media: new encoder: %w: complexity %d outside 1..10", ErrBadConfig, cfg.Complexity)
	}
	enc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("media: new encoder: %w", err)
	}
	for _, step := range []struct {
		what string
		err  error
	}{
		{"bitrate", enc.SetBitrate(cfg.Bitrate)},
		{"constant bitrate", enc.SetVBR(false)},
		{"DTX off", enc.SetDTX(false)},
		{"in-band FEC", enc.SetInBandFEC(!cfg.DisableFEC)},
		{"expected loss", enc.SetPacketLossPerc(cfg.ExpectedLossPercent)},
		{"complexity", enc.SetComplexity(cfg.Complexity)},
	} {
		if step.err != nil {
			return nil, fmt.Errorf("media: new encoder: set %s: %w", step.what, step.err)
		}
	}
	return &Encoder{
		enc:     enc,
		cfg:     cfg,
		samples: samplesFor(cfg.FrameDuration),
		buf:     make([]byte, maxPacket),
	}, nil
}

// Config returns the encoder's configuration with defaults filled in.
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// FrameDuration returns the duration of the frames Encode takes.
func (e *Encoder) FrameDuration() time.Duration { return e.cfg.FrameDuration }

// FrameSamples returns the number of samples Encode takes.
func (e *Encoder) FrameSamples() int { return e.samples }

// Encode encodes one frame of exactly FrameSamples samples and returns a new
// packet owned by the caller.
func (e *Encoder) Encode(pcm []int16) ([]byte, error) {
	if len(pcm) != e.samples {
		return nil, fmt.Errorf("media: encode: %w: %d samples, want %d", ErrFrameSize, len(pcm), e.samples)
	}
	n, err := e.enc.Encode(pcm, e.buf[:maxPacket:maxPacket])
	if err != nil {
		return nil, fmt.Errorf("media: encode: %w", err)
	}
	return append([]byte(nil), e.buf[:n]...), nil
}

// Decoder turns Opus packets back into 48 kHz mono PCM and stands in for
// lost packets by FEC or concealment. A Decoder is not safe for concurrent
// use.
type Decoder struct {
	dec *opus.Decoder
}

// NewDecoder returns a 48 kHz mono decoder.
func NewDecoder() (*Decoder, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("media: new decoder: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// Decode decodes pkt into pcm and returns the number of samples written,
// the packet's duration. pcm must have room for it (960 samples for a 20 ms
// packet); nothing beyond len(pcm) is touched.
func (d *Decoder) Decode(pkt []byte, pcm []int16) (int, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("media: decode: empty packet")
	}
	if len(pcm) == 0 {
		return 0, fmt.Errorf("media: decode: %w: empty buffer", ErrFrameSize)
	}
	n, err := d.dec.Decode(pkt, pcm[:len(pcm):len(pcm)])
	if err != nil {
		return 0, fmt.Errorf("media: decode %d-byte packet: %w", len(pkt), err)
	}
	return n, nil
}

// DecodeFEC rebuilds the lost frame that came just before next from the
// in-band FEC data that next carries, filling all of pcm, whose length is
// the lost frame's duration. If next carries no FEC data (HasFEC is false)
// it returns an error wrapping ErrNoFEC and leaves the decoder untouched, so
// the caller conceals instead and counts the frame as concealed, not
// recovered (libopus itself would silently conceal). Decode next itself
// afterwards as usual.
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) error {
	if err := checkLostFrame(len(pcm)); err != nil {
		return fmt.Errorf("media: decode FEC: %w", err)
	}
	if len(next) == 0 {
		return fmt.Errorf("media: decode FEC: empty packet")
	}
	if !HasFEC(next) {
		return fmt.Errorf("media: decode FEC from %d-byte packet: %w", len(next), ErrNoFEC)
	}
	if err := d.dec.DecodeFEC(next, pcm[:len(pcm):len(pcm)]); err != nil {
		return fmt.Errorf("media: decode FEC from %d-byte packet: %w", len(next), err)
	}
	return nil
}

// Conceal fills pcm with packet loss concealment for a lost frame of
// len(pcm) samples, extrapolated from the audio decoded before it.
func (d *Decoder) Conceal(pcm []int16) error {
	if err := checkLostFrame(len(pcm)); err != nil {
		return fmt.Errorf("media: conceal: %w", err)
	}
	if err := d.dec.DecodePLC(pcm[:len(pcm):len(pcm)]); err != nil {
		return fmt.Errorf("media: conceal: %w", err)
	}
	return nil
}

// checkLostFrame checks that n samples are a duration libopus can conceal:
// a multiple of 2.5 ms up to 120 ms.
func checkLostFrame(n int) error {
	const unit = SampleRate / 400
	if n <= 0 || n%unit != 0 || n > maxFrameSamples {
		return fmt.Errorf("%w: %d samples is not a multiple of 2.5 ms up to 120 ms", ErrFrameSize, n)
	}
	return nil
}
