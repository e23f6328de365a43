package runner

import (
	"encoding/binary"
	"fmt"
	"os"
)

// writeWAV writes 48 kHz mono 16-bit PCM.
func writeWAV(path string, pcm []int16) error {
	b := make([]byte, 44+2*len(pcm))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(pcm)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], SampleRate)
	binary.LittleEndian.PutUint32(b[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(pcm)))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("runner: write %s: %w", path, err)
	}
	return nil
}

// readWAV reads the 48 kHz mono 16-bit PCM lokicall's file sink writes; a
// data chunk of size 0 (never closed) runs to the end of the file.
func readWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("runner: %s: not a WAV file", path)
	}
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		off += 8
		if id == "fmt " && off+16 <= len(b) {
			ch, rate, bits := binary.LittleEndian.Uint16(b[off+2:]), binary.LittleEndian.Uint32(b[off+4:]), binary.LittleEndian.Uint16(b[off+14:])
			if ch != 1 || rate != SampleRate || bits != 16 {
				return nil, fmt.Errorf("runner: %s: %d ch, %d Hz, %d bit; want mono 48 kHz 16 bit", path, ch, rate, bits)
			}
		}
		if id == "data" {
			if size == 0 || off+size > len(b) {
				size = len(b) - off
			}
			pcm := make([]int16, size/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[off+2*i:]))
			}
			return pcm, nil
		}
		off += size + size&1
	}
	return nil, fmt.Errorf("runner: %s: no data chunk", path)
}
