package media

import (
	"fmt"
	"time"
)

// Opus packet inspection (RFC 6716 §3), in Go because the libopus of the
// supported distributions (1.3) lacks opus_packet_has_lbrr.

// opusMode is the coding mode named by a TOC byte.
type opusMode int

const (
	modeSILK opusMode = iota
	modeHybrid
	modeCELT
)

// tocInfo decodes a TOC byte: the mode and the samples at 48 kHz of each
// frame in the packet (RFC 6716 §3.1, Table 2).
func tocInfo(toc byte) (opusMode, int) {
	config := int(toc >> 3)
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		return modeSILK, []int{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		return modeHybrid, []int{480, 960}[config%2]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		return modeCELT, []int{120, 240, 480, 960}[config%4]
	}
}

// frameLength reads a frame length of one or two bytes (RFC 6716 §3.2.1)
// and returns it and the bytes used.
func frameLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: truncated frame length", ErrBadPacket)
	}
	if b[0] < 252 {
		return int(b[0]), 1, nil
	}
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("%w: truncated frame length", ErrBadPacket)
	}
	return int(b[0]) + 4*int(b[1]), 2, nil
}

// opusPacket is what inspection needs of a parsed packet.
type opusPacket struct {
	mode       opusMode
	frameSamp  int    // samples per frame at 48 kHz
	frames     int    // frames in the packet
	first      []byte // the first frame's compressed data
	stereoFlag bool
}

// parseOpus parses the framing of an Opus packet far enough to find its
// frame count and its first frame (RFC 6716 §3.2).
func parseOpus(p []byte) (opusPacket, error) {
	if len(p) == 0 {
		return opusPacket{}, fmt.Errorf("%w: empty packet", ErrBadPacket)
	}
	mode, fs := tocInfo(p[0])
	pk := opusPacket{mode: mode, frameSamp: fs, stereoFlag: p[0]&0x4 != 0}
	rest := p[1:]
	switch p[0] & 0x3 {
	case 0:
		pk.frames, pk.first = 1, rest
	case 1:
		if len(rest)%2 != 0 {
			return opusPacket{}, fmt.Errorf("%w: code 1 packet with odd payload", ErrBadPacket)
		}
		pk.frames, pk.first = 2, rest[:len(rest)/2]
	case 2:
		n, used, err := frameLength(rest)
		if err != nil {
			return opusPacket{}, err
		}
		rest = rest[used:]
		if n > len(rest) {
			return opusPacket{}, fmt.Errorf("%w: code 2 frame longer than packet", ErrBadPacket)
		}
		pk.frames, pk.first = 2, rest[:n]
	case 3:
		if len(rest) == 0 {
			return opusPacket{}, fmt.Errorf("%w: code 3 packet without frame count", ErrBadPacket)
		}
		vbr, padded, m := rest[0]&0x80 != 0, rest[0]&0x40 != 0, int(rest[0]&0x3f)
		rest = rest[1:]
		if m == 0 || m*fs > maxFrameSamples {
			return opusPacket{}, fmt.Errorf("%w: code 3 packet with %d frames", ErrBadPacket, m)
		}
		pad := 0
		for padded {
			if len(rest) == 0 {
				return opusPacket{}, fmt.Errorf("%w: truncated padding length", ErrBadPacket)
			}
			b := int(rest[0])
			rest = rest[1:]
			if b == 255 {
				pad += 254
			} else {
				pad += b
				padded = false
			}
		}
		var first int
		if vbr {
			lens := 0
			for i := 0; i < m-1; i++ {
				n, used, err := frameLength(rest[lens:])
				if err != nil {
					return opusPacket{}, err
				}
				if i == 0 {
					first = n
				}
				lens += used
			}
			rest = rest[lens:]
			if m == 1 {
				first = len(rest) - pad
			}
		} else {
			if pad > len(rest) || (len(rest)-pad)%m != 0 {
				return opusPacket{}, fmt.Errorf("%w: code 3 CBR frames do not divide the packet", ErrBadPacket)
			}
			first = (len(rest) - pad) / m
		}
		if first < 0 || first > len(rest) {
			return opusPacket{}, fmt.Errorf("%w: code 3 frame longer than packet", ErrBadPacket)
		}
		pk.frames, pk.first = m, rest[:first]
	}
	if pk.frames*fs > maxFrameSamples {
		return opusPacket{}, fmt.Errorf("%w: packet longer than 120 ms", ErrBadPacket)
	}
	return pk, nil
}

// PacketDuration returns the audio duration of an Opus packet from its TOC
// byte and framing; a malformed packet gives an error wrapping ErrBadPacket.
func PacketDuration(pkt []byte) (time.Duration, error) {
	pk, err := parseOpus(pkt)
	if err != nil {
		return 0, fmt.Errorf("media: packet duration: %w", err)
	}
	return time.Duration(pk.frames*pk.frameSamp) * time.Second / SampleRate, nil
}

// HasFEC reports whether an Opus packet carries in-band FEC (SILK LBRR) data
// for the frame before it, so that Decoder.DecodeFEC can rebuild that frame.
// CELT-only packets never do. It reads the LBRR flag, which follows the
// per-frame VAD flags at the start of the SILK layer of the first frame; both
// are coded with probability one half, so they are the leading bits of the
// range-coded data (RFC 6716 §4.2.3; libopus 1.5 opus_packet_has_lbrr does the
// same). A malformed packet reports false.
func HasFEC(pkt []byte) bool {
	pk, err := parseOpus(pkt)
	if err != nil || pk.mode == modeCELT || len(pk.first) == 0 {
		return false
	}
	silkFrames := 1 // SILK frames of the first Opus frame: 20 ms each beyond 20 ms
	if pk.frameSamp > 960 {
		silkFrames = pk.frameSamp / 960
	}
	lbrr := pk.first[0]>>(7-silkFrames)&1 == 1
	if pk.stereoFlag {
		lbrr = lbrr || pk.first[0]>>(6-2*silkFrames)&1 == 1
	}
	return lbrr
}
