package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/lokinet"
)

func newPingCommand(g *globalOptions) *cobra.Command {
	var (
		count    int
		interval time.Duration
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ping NAME|ADDRESS[:PORT]",
		Short: "Check that a contact or .loki address answers, without ringing it",
		Long: `Resolve a contact, .loki address or ONS name through Lokinet as a call would
(for a peer not talked to lately most of that time is Lokinet building a path),
open its signalling connection and measure round trips with probes, which a
listener answers without ringing. A listener answers only callers it would let
ring: anybody else learns what a refused call would tell them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 || count > call.MaxPingCount {
				return usageError{fmt.Errorf("--count %d: want 1 to %d", count, call.MaxPingCount)}
			}
			if interval <= 0 || timeout <= 0 {
				return usageError{fmt.Errorf("--interval and --timeout must be positive")}
			}
			target, err := g.resolveTarget(args[0])
			if err != nil {
				return usageError{err}
			}
			r, node, err := g.discover(cmd.Context())
			if err != nil {
				return err
			}
			return runPing(cmd, g, call.PingConfig{Node: node, Resolver: r, Count: count, Interval: interval, Timeout: timeout, Logger: g.logger}, target)
		},
	}
	cmd.Flags().IntVar(&count, "count", call.DefaultPingCount, fmt.Sprintf("probes to send (1 to %d)", call.MaxPingCount))
	cmd.Flags().DurationVar(&interval, "interval", call.DefaultPingInterval, "pause between a reply and the next probe")
	cmd.Flags().DurationVar(&timeout, "timeout", call.DefaultPingTimeout, "how long to wait for each reply")
	return cmd
}

// pingJSON is one --json line of ping: a step ("ping-resolved",
// "ping-connected", "probe-reply") or the summary ("ping").
type pingJSON struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"event"`
	Peer      string    `json:"peer,omitempty"`
	Seq       int       `json:"seq,omitempty"`
	RTTMS     *float64  `json:"rtt_ms,omitempty"`
	ResolveMS *float64  `json:"resolve_ms,omitempty"`
	ConnectMS *float64  `json:"connect_ms,omitempty"`
	Sent      *int      `json:"sent,omitempty"`
	Received  *int      `json:"received,omitempty"`
	MinMS     *float64  `json:"rtt_min_ms,omitempty"`
	MedianMS  *float64  `json:"rtt_median_ms,omitempty"`
	MaxMS     *float64  `json:"rtt_max_ms,omitempty"`
}

func ms(d time.Duration) *float64 {
	v := float64(d.Microseconds()) / 1000
	return &v
}

func runPing(cmd *cobra.Command, g *globalOptions, pc call.PingConfig, target lokinet.Target) error {
	w := newEventWriter(g)
	name := g.displayName(target.Host)
	pc.OnResolved = func(peer lokinet.Address, took time.Duration) {
		name = g.displayName(peer.String())
		w.result(pingJSON{Time: time.Now(), Kind: "ping-resolved", Peer: peer.String(), ResolveMS: ms(took)}, func(out io.Writer) {
			fmt.Fprintf(out, "resolved %s in %s (Lokinet lookup and path build)\n", g.longName(peer.String()), took.Round(time.Millisecond))
		})
	}
	pc.OnConnected = func(took time.Duration) {
		w.result(pingJSON{Time: time.Now(), Kind: "ping-connected", ConnectMS: ms(took)}, func(out io.Writer) {
			fmt.Fprintf(out, "connected to its signalling port in %s\n", took.Round(time.Millisecond))
		})
	}
	pc.OnReply = func(n int, rtt time.Duration) {
		w.result(pingJSON{Time: time.Now(), Kind: "probe-reply", Seq: n, RTTMS: ms(rtt)}, func(out io.Writer) {
			fmt.Fprintf(out, "reply %d from %s: %s\n", n, name, rtt.Round(100*time.Microsecond))
		})
	}
	res, err := call.Ping(cmd.Context(), pc, target)
	if err != nil {
		_, err = callerSentence(callEnd{peer: name, err: err, reason: res.Reason})
		return err
	}
	least, median, most := res.RTTRange()
	received := len(res.RTTs)
	w.result(pingJSON{Time: time.Now(), Kind: "ping", Peer: res.Peer.String(), ResolveMS: ms(res.Resolve), ConnectMS: ms(res.Connect),
		Sent: &res.Sent, Received: &received, MinMS: ms(least), MedianMS: ms(median), MaxMS: ms(most)}, func(out io.Writer) {
		fmt.Fprintf(out, "%s is reachable: %d probes, %d replies, round trip min/median/max %s/%s/%s\n", name, res.Sent, received,
			least.Round(100*time.Microsecond), median.Round(100*time.Microsecond), most.Round(100*time.Microsecond))
	})
	return nil
}
