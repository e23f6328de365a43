package media

import "errors"

// ErrBadSpec reports an audio spec that ParseSpec does not accept, or a spec
// used in a direction it cannot serve (such as tone as a sink).
var ErrBadSpec = errors.New("media: bad audio spec")

// ErrNoDevice reports that no sound device could be opened: none exists, none
// matches the requested name, or the audio system refused to open it.
var ErrNoDevice = errors.New("media: no audio device")

// ErrBadWAV reports a WAV file that cannot be read: not RIFF/WAVE, an
// unsupported sample format, a malformed or truncated chunk, or too long.
var ErrBadWAV = errors.New("media: bad WAV file")

// ErrFrameSize reports a PCM buffer whose length does not fit the frame
// contract of the call (for example not a multiple of 10 ms).
var ErrFrameSize = errors.New("media: bad frame size")

// ErrBadConfig reports an invalid encoder, jitter buffer or pipeline
// configuration.
var ErrBadConfig = errors.New("media: bad configuration")

// ErrClosed reports use of a Source or Sink after Close.
var ErrClosed = errors.New("media: closed")

// ErrBadPacket reports an Opus packet whose framing is malformed.
var ErrBadPacket = errors.New("media: malformed Opus packet")

// ErrNoFEC reports that a packet carries no in-band FEC data for the frame
// before it, so Decoder.DecodeFEC cannot rebuild that frame (conceal it
// instead).
var ErrNoFEC = errors.New("media: packet carries no FEC data")
