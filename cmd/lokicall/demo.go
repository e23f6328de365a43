package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/demo"
)

func newDemoCommand(g *globalOptions) *cobra.Command {
	var (
		duration time.Duration
		out      string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Make a real call between two local lokicall processes, no Lokinet or sound card needed",
		Long: `demo runs lokicall listen and lokicall call as two processes, each with its own
stand-in DNS server that answers as Lokinet's does, on loopback addresses that
stand in for the Lokinet range. The caller sends a 440 Hz tone; the callee
records what it hears to a WAV file. Sockets, DTLS-SRTP and Opus are real.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find own executable: %w", err)
			}
			w := newEventWriter(g)
			res, err := demo.Run(cmd.Context(), demo.Options{
				Executable:  exe,
				Duration:    duration,
				ReceivedWAV: out,
				Progress:    func(role, line string) { w.peerLine(role, line) },
				Logger:      g.logger,
			})
			if err != nil {
				return err
			}
			w.result(struct {
				Kind       string      `json:"event"`
				Caller     string      `json:"caller"`
				Callee     string      `json:"callee"`
				WAV        string      `json:"received_wav"`
				Seconds    float64     `json:"received_seconds"`
				DominantHz float64     `json:"dominant_hz"`
				CallerSide *call.Stats `json:"caller_stats"`
				CalleeSide *call.Stats `json:"callee_stats"`
			}{"demo", res.Caller.Address.String(), res.Callee.Address.String(), res.ReceivedWAV,
				res.ReceivedSeconds, res.DominantHz, res.Caller.Stats, res.Callee.Stats},
				func(o io.Writer) {
					fmt.Fprintf(o, "\ncaller (%s):\n", res.Caller.Address)
					w.printStatsTo(o, res.Caller.Stats)
					fmt.Fprintf(o, "callee (%s):\n", res.Callee.Address)
					w.printStatsTo(o, res.Callee.Stats)
					fmt.Fprintf(o, "\nreceived audio: %s, %.1f s, strongest frequency %.0f Hz (the caller sent 440 Hz)\n",
						res.ReceivedWAV, res.ReceivedSeconds, res.DominantHz)
				})
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "how long the caller talks")
	cmd.Flags().StringVar(&out, "out", "out/demo-received.wav", "where the callee records what it hears")
	return cmd
}

// peerLine shows one line of a demo peer's JSON event stream: passed through
// with --json, rendered for people otherwise.
func (w *eventWriter) peerLine(role, line string) {
	if w.json {
		w.mu.Lock()
		defer w.mu.Unlock()
		fmt.Fprintf(w.out, "{\"role\":%q,%s\n", role, bytes.TrimPrefix([]byte(line), []byte("{")))
		return
	}
	var ev call.Event
	if json.Unmarshal([]byte(line), &ev) != nil || ev.Kind == call.EventStats {
		return
	}
	w.mu.Lock()
	fmt.Fprintf(w.out, "%-7s", role)
	w.mu.Unlock()
	w.event(ev)
}
