package main

import (
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"
)

// ANSI control sequences for the status line.
const (
	clearLine = "\r\x1b[2K" // back to column 0 and erase the line
	bell      = "\a"
)

// terminal is the command's view of its terminal: key presses from stdin
// when stdin is one, and a status line redrawn in place at the bottom of
// stdout when stdout is one. Every write to stdout (and, through
// lineWriter, stderr) goes through it so that lines never land in the
// middle of the status line. It is safe for concurrent use.
type terminal struct {
	in     *os.File // stdin, if it is a terminal
	out    io.Writer
	outFD  int  // stdout's descriptor, if it is a terminal
	outTTY bool // stdout is a terminal: redraw the status line in place

	mu     sync.Mutex
	status string // the status line on screen, "" for none

	keysOnce sync.Once
	keysErr  error
	restore  func()
	keyMu    sync.Mutex
	onKey    func(byte)
}

func newTerminal(stdin io.Reader, stdout io.Writer) *terminal {
	t := &terminal{out: stdout}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.in = f
	}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.outTTY, t.outFD = true, int(f.Fd())
	}
	return t
}

// interactive reports whether a person can answer questions on stdin.
func (t *terminal) interactive() bool { return t != nil && t.in != nil }

// Write writes whole lines to stdout below (in effect above) the status
// line.
func (t *terminal) Write(p []byte) (int, error) { return t.writeTo(t.out, p) }

// lineWriter returns a writer for whole lines on w (stderr) that keeps the
// status line intact.
func (t *terminal) lineWriter(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) { return t.writeTo(w, p) })
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (t *terminal) writeTo(w io.Writer, p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != "" {
		_, _ = io.WriteString(t.out, clearLine)
	}
	n, err := w.Write(p)
	if t.status != "" {
		_, _ = io.WriteString(t.out, t.status)
	}
	return n, err
}

// setStatus shows s as the status line, replacing the previous one. On a
// stdout that is not a terminal it does nothing: see printStatus.
func (t *terminal) setStatus(s string) {
	if !t.outTTY {
		return
	}
	s = t.fit(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.status = s
	_, _ = io.WriteString(t.out, clearLine+s)
}

// clearStatus removes the status line.
func (t *terminal) clearStatus() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != "" {
		_, _ = io.WriteString(t.out, clearLine)
		t.status = ""
	}
}

// ring sounds the terminal's bell.
func (t *terminal) ring() {
	if t.outTTY {
		t.mu.Lock()
		_, _ = io.WriteString(t.out, bell)
		t.mu.Unlock()
	}
}

// fit cuts s to the terminal's width so that the line never wraps (a
// wrapped line cannot be redrawn in place).
func (t *terminal) fit(s string) string {
	w, _, err := term.GetSize(t.outFD)
	if err != nil || w <= 1 {
		return s
	}
	if utf8.RuneCountInString(s) < w {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:w-1]), " ")
}

// startKeys puts the input terminal in cbreak mode (keys arrive one by one,
// unechoed; Ctrl-C still interrupts) and starts reading them. stop restores
// the terminal; call it on every way out, signals included (main cancels
// the context on SIGINT and SIGTERM, and the commands return through their
// deferred stop). Without an interactive stdin it does nothing.
func (t *terminal) startKeys() (stop func(), err error) {
	if !t.interactive() {
		return func() {}, nil
	}
	t.keysOnce.Do(func() {
		restore, err := cbreak(int(t.in.Fd()))
		if err != nil {
			t.keysErr = err
			return
		}
		t.restore = restore
		go t.readKeys()
	})
	if t.keysErr != nil {
		return func() {}, t.keysErr
	}
	var once sync.Once
	return func() { once.Do(t.restore) }, nil
}

// readKeys hands every byte read from stdin to the current key handler. It
// ends when stdin does (at exit); a key pressed after the command is done
// with the terminal is dropped.
func (t *terminal) readKeys() {
	buf := make([]byte, 64)
	for {
		n, err := t.in.Read(buf)
		for _, b := range buf[:n] {
			t.keyMu.Lock()
			h := t.onKey
			t.keyMu.Unlock()
			if h != nil {
				h(b)
			}
		}
		if err != nil {
			return
		}
	}
}

// handleKeys makes h receive key presses until the returned function puts
// the previous handler back. h must not block.
func (t *terminal) handleKeys(h func(byte)) (restore func()) {
	t.keyMu.Lock()
	prev := t.onKey
	t.onKey = h
	t.keyMu.Unlock()
	return func() {
		t.keyMu.Lock()
		t.onKey = prev
		t.keyMu.Unlock()
	}
}
