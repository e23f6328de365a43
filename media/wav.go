package media

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
)

// The WAV reader is our own rather than github.com/go-audio/wav (v1.1.0, the
// version served): that one decodes 32-bit float as integers, ignores the
// WAVE_FORMAT_EXTENSIBLE sub-format and does not check short reads, which a
// reader of untrusted files needs.

// WAV format tags.
const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatExtensible = 0xFFFE
)

// maxWAVSeconds bounds how much audio a WAV file may hold, since it is
// decoded into memory.
const maxWAVSeconds = 3600

// maxWAVRate bounds the sample rate of WAV input.
const maxWAVRate = 1_000_000

// wavHeaderSize is the size of the header CreateWAV and WriteWAV write.
const wavHeaderSize = 44

// wavGUIDTail is bytes 2..15 of the KSDATAFORMAT_SUBTYPE GUIDs for PCM and
// IEEE float; bytes 0..1 carry the format tag.
var wavGUIDTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71}

// wavFormat is the part of a fmt chunk the decoder needs.
type wavFormat struct {
	tag        uint16 // wavFormatPCM or wavFormatFloat (extensible resolved)
	channels   int
	rate       int
	blockAlign int
	bits       int // container bits per sample
}

// badWAV returns an error wrapping ErrBadWAV.
func badWAV(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadWAV, fmt.Sprintf(format, args...))
}

// ReadWAV reads a PCM WAV file (8, 16, 24 or 32-bit integer, 32 or 64-bit
// float, any channel count, any rate up to 1 MHz, at most one hour) and
// returns its audio mixed down to mono by averaging the channels, at the
// file's own sample rate, with that rate. Errors about the content wrap
// ErrBadWAV.
func ReadWAV(path string) ([]int16, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("media: read WAV: %w", err)
	}
	defer f.Close()
	pcm, rate, err := DecodeWAV(f)
	if err != nil {
		return nil, 0, fmt.Errorf("media: read WAV %s: %w", path, err)
	}
	return pcm, rate, nil
}

// DecodeWAV is ReadWAV for a stream: it reads a WAV file from r and returns
// its audio as mono at the file's own sample rate, with that rate. A data
// chunk whose size is 0 or 0xFFFFFFFF (written by a streaming writer that
// never fixed its header) runs to the end of r; any other data chunk shorter
// than declared is an error.
func DecodeWAV(r io.Reader) ([]int16, int, error) {
	br := bufio.NewReader(r)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, 0, badWAV("too short for a RIFF header")
	}
	switch {
	case string(hdr[0:4]) == "RF64":
		return nil, 0, badWAV("RF64 files are not supported")
	case string(hdr[0:4]) != "RIFF":
		return nil, 0, badWAV("not a RIFF file")
	case string(hdr[8:12]) != "WAVE":
		return nil, 0, badWAV("RIFF file of type %q, not WAVE", hdr[8:12])
	}
	var format *wavFormat
	for {
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			if errors.Is(err, io.EOF) {
				if format == nil {
					return nil, 0, badWAV("no fmt chunk")
				}
				return nil, 0, badWAV("no data chunk")
			}
			return nil, 0, badWAV("truncated chunk header")
		}
		id, size := ch[:4], binary.LittleEndian.Uint32(ch[4:])
		switch string(id) {
		case "fmt ":
			if format != nil {
				return nil, 0, badWAV("second fmt chunk")
			}
			if size < 16 || size > 1024 {
				return nil, 0, badWAV("fmt chunk of %d bytes", size)
			}
			buf := make([]byte, size)
			if _, err := io.ReadFull(br, buf); err != nil {
				return nil, 0, badWAV("truncated fmt chunk")
			}
			var err error
			if format, err = parseWAVFormat(buf); err != nil {
				return nil, 0, err
			}
			skipPad(br, size)
		case "data":
			if format == nil {
				return nil, 0, badWAV("data chunk before fmt chunk")
			}
			pcm, err := decodeWAVData(br, format, size)
			if err != nil {
				return nil, 0, err
			}
			return pcm, format.rate, nil
		default:
			if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
				return nil, 0, badWAV("truncated %q chunk", id)
			}
			skipPad(br, size)
		}
	}
}

// skipPad skips the pad byte that follows a chunk of odd size, if present.
func skipPad(br *bufio.Reader, size uint32) {
	if size%2 == 1 {
		_, _ = br.ReadByte()
	}
}

// parseWAVFormat checks a fmt chunk and resolves WAVE_FORMAT_EXTENSIBLE.
func parseWAVFormat(b []byte) (*wavFormat, error) {
	le := binary.LittleEndian
	f := &wavFormat{
		tag:        le.Uint16(b[0:2]),
		channels:   int(le.Uint16(b[2:4])),
		rate:       int(le.Uint32(b[4:8])),
		blockAlign: int(le.Uint16(b[12:14])),
		bits:       int(le.Uint16(b[14:16])),
	}
	if f.tag == wavFormatExtensible {
		if len(b) < 40 {
			return nil, badWAV("extensible fmt chunk of %d bytes, want 40", len(b))
		}
		if !bytes.Equal(b[26:40], wavGUIDTail) {
			return nil, badWAV("unknown extensible sub-format")
		}
		f.tag = le.Uint16(b[24:26])
	}
	switch {
	case f.tag != wavFormatPCM && f.tag != wavFormatFloat:
		return nil, badWAV("format tag %#x is not PCM or IEEE float", f.tag)
	case f.channels == 0:
		return nil, badWAV("zero channels")
	case f.rate < 1 || f.rate > maxWAVRate:
		return nil, badWAV("sample rate %d Hz out of range 1..%d", f.rate, maxWAVRate)
	case f.tag == wavFormatPCM && f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32:
		return nil, badWAV("%d-bit integer samples are not supported (8, 16, 24, 32)", f.bits)
	case f.tag == wavFormatFloat && f.bits != 32 && f.bits != 64:
		return nil, badWAV("%d-bit float samples are not supported (32, 64)", f.bits)
	case f.blockAlign != f.channels*f.bits/8:
		return nil, badWAV("block align %d does not match %d channels of %d bits", f.blockAlign, f.channels, f.bits)
	}
	return f, nil
}

// decodeWAVData reads the samples of a data chunk of the declared size and
// mixes them down to mono int16.
func decodeWAVData(br *bufio.Reader, f *wavFormat, size uint32) ([]int16, error) {
	var r io.Reader = br
	toEOF := size == 0 || size == math.MaxUint32
	if !toEOF {
		r = io.LimitReader(br, int64(size))
	}
	maxFrames := int64(f.rate) * maxWAVSeconds
	if !toEOF && int64(size)/int64(f.blockAlign) > maxFrames {
		return nil, badWAV("data chunk holds more than %d s of audio", maxWAVSeconds)
	}
	var out []int16
	if !toEOF {
		out = make([]int16, 0, min(int64(size)/int64(f.blockAlign), 1<<20))
	}
	const framesPerRead = 1024
	buf := make([]byte, f.blockAlign*framesPerRead)
	var total int64
	for {
		n, err := io.ReadFull(r, buf)
		total += int64(n)
		for off := 0; off+f.blockAlign <= n; off += f.blockAlign {
			out = append(out, mixFrame(buf[off:off+f.blockAlign], f))
		}
		if int64(len(out)) > maxFrames {
			return nil, badWAV("data chunk holds more than %d s of audio", maxWAVSeconds)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, badWAV("read data: %v", err)
			}
			break
		}
	}
	if !toEOF && total < int64(size) {
		return nil, badWAV("truncated: data chunk declares %d bytes, file holds %d", size, total)
	}
	return out, nil
}

// mixFrame converts one frame of f's samples to a mono int16 sample.
func mixFrame(b []byte, f *wavFormat) int16 {
	le := binary.LittleEndian
	step := f.bits / 8
	var sum float64
	for off := 0; off < len(b); off += step {
		var v float64
		switch {
		case f.tag == wavFormatFloat && f.bits == 32:
			v = float64(math.Float32frombits(le.Uint32(b[off:])))
		case f.tag == wavFormatFloat:
			v = math.Float64frombits(le.Uint64(b[off:]))
		case f.bits == 8:
			v = float64(int(b[off])-128) / 128
		case f.bits == 16:
			v = float64(int16(le.Uint16(b[off:]))) / (1 << 15)
		case f.bits == 24:
			s := int32(uint32(b[off])<<8|uint32(b[off+1])<<16|uint32(b[off+2])<<24) >> 8
			v = float64(s) / (1 << 23)
		default:
			v = float64(int32(le.Uint32(b[off:]))) / (1 << 31)
		}
		if math.IsNaN(v) {
			v = 0
		}
		sum += v
	}
	return quantize(sum / float64(f.channels) * (1 << 15))
}

// quantize rounds v to the nearest int16, saturating.
func quantize(v float64) int16 {
	v = math.Round(v)
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case math.IsNaN(v):
		return 0
	}
	return int16(v)
}

// wavHeader returns the 44-byte header of a mono 16-bit PCM file holding
// dataBytes bytes of samples at rate.
func wavHeader(rate int, dataBytes uint32) []byte {
	h := make([]byte, wavHeaderSize)
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], 36+dataBytes)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], wavFormatPCM)
	le.PutUint16(h[22:], 1)
	le.PutUint32(h[24:], uint32(rate))
	le.PutUint32(h[28:], uint32(rate*2))
	le.PutUint16(h[32:], 2)
	le.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataBytes)
	return h
}

// maxWAVData is the most sample data a RIFF size field can describe.
const maxWAVData = math.MaxUint32 - 36

// WriteWAV writes pcm as a mono 16-bit PCM WAV file at rate Hz, replacing
// path. Test and measurement code uses it to make input files.
func WriteWAV(path string, pcm []int16, rate int) error {
	if rate < 1 || rate > maxWAVRate {
		return fmt.Errorf("media: write WAV %s: %w: sample rate %d", path, ErrBadConfig, rate)
	}
	if int64(len(pcm))*2 > maxWAVData {
		return fmt.Errorf("media: write WAV %s: %w: %d samples do not fit in a WAV file", path, ErrBadConfig, len(pcm))
	}
	b := wavHeader(rate, uint32(len(pcm)*2))
	b = appendPCM(b, pcm)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("media: write WAV: %w", err)
	}
	return nil
}

// appendPCM appends pcm to b as little-endian 16-bit samples.
func appendPCM(b []byte, pcm []int16) []byte {
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// CreateWAV creates (or truncates) path and returns a Sink that writes 48 kHz
// mono 16-bit PCM WAV to it. The header's sizes are fixed on Close; until
// then they read 0, which DecodeWAV takes as "data to the end of the file".
func CreateWAV(path string) (Sink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("media: create WAV sink: %w", err)
	}
	w := &wavSink{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path}
	if _, err := w.w.Write(wavHeader(SampleRate, 0)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("media: create WAV sink %s: %w", path, err)
	}
	return w, nil
}

// wavSink is the Sink CreateWAV returns.
type wavSink struct {
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	path   string
	data   int64 // sample bytes written
	closed bool
	buf    []byte
}

func (s *wavSink) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("media: WAV sink %s: %w", s.path, ErrClosed)
	}
	if s.data+int64(len(pcm))*2 > maxWAVData {
		return fmt.Errorf("media: WAV sink %s: %w: 4 GiB size limit reached", s.path, ErrBadWAV)
	}
	s.buf = appendPCM(s.buf[:0], pcm)
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("media: WAV sink %s: %w", s.path, err)
	}
	s.data += int64(len(s.buf))
	return nil
}

func (s *wavSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.w.Flush()
	if err == nil {
		_, err = s.f.WriteAt(wavHeader(SampleRate, uint32(s.data)), 0)
	}
	err = errors.Join(err, s.f.Close())
	if err != nil {
		return fmt.Errorf("media: close WAV sink %s: %w", s.path, err)
	}
	return nil
}

// wavSource plays a WAV file converted to 48 kHz mono.
type wavSource struct {
	pcm    []int16
	pos    int
	loop   bool
	closed atomic.Bool
}

// openWAVSource reads path, converts it to 48 kHz mono and returns a source
// playing it once, or forever if loop.
func openWAVSource(path string, loop bool, log *slog.Logger) (Source, error) {
	pcm, rate, err := ReadWAV(path)
	if err != nil {
		return nil, err
	}
	if rate != SampleRate {
		pcm = Resample(pcm, rate, SampleRate)
	}
	if loop && len(pcm) == 0 {
		return nil, fmt.Errorf("media: WAV source %s: %w: no audio to loop", path, ErrBadWAV)
	}
	log.Debug("media: WAV source opened", "path", path, "file_rate", rate, "samples", len(pcm), "loop", loop)
	return &wavSource{pcm: pcm, loop: loop}, nil
}

// ReadFrame copies the next len(pcm) samples; past the end of a file that
// does not loop the rest of the last frame is silence and the next call
// returns io.EOF.
func (s *wavSource) ReadFrame(ctx context.Context, pcm []int16) error {
	if s.closed.Load() {
		return fmt.Errorf("media: WAV source: %w", ErrClosed)
	}
	if err := checkFrame(len(pcm)); err != nil {
		return fmt.Errorf("media: WAV source: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.pos >= len(s.pcm) && !s.loop {
		return io.EOF
	}
	for n := 0; n < len(pcm); {
		if s.pos >= len(s.pcm) {
			if !s.loop {
				clear(pcm[n:])
				break
			}
			s.pos = 0
		}
		c := copy(pcm[n:], s.pcm[s.pos:])
		n += c
		s.pos += c
	}
	return nil
}

func (s *wavSource) Close() error {
	s.closed.Store(true)
	return nil
}
