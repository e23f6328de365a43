package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/call"
)

func newListenCommand(g *globalOptions) *cobra.Command {
	var (
		o      callOptions
		port   uint16
		accept string
		calls  int
	)
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Wait for calls on this node's Lokinet address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var policy call.Policy
			switch accept {
			case "auto":
				policy = call.AcceptAll
			case "never":
				policy = call.DeclineAll
			default:
				return usageError{fmt.Errorf("--accept %q: want auto or never", accept)}
			}
			if calls < 0 {
				return usageError{fmt.Errorf("--calls %d: want 0 (no limit) or more", calls)}
			}
			w := newEventWriter(g)
			cfg, err := o.config(cmd.Context(), g, w.event)
			if err != nil {
				return err
			}
			return call.Listen(cmd.Context(), call.ListenConfig{
				Config:   cfg,
				Port:     port,
				Accept:   policy,
				MaxCalls: calls,
			})
		},
	}
	o.register(cmd.Flags(), "silence")
	cmd.Flags().Uint16Var(&port, "port", call.DefaultPort, "signalling TCP port on the Lokinet address")
	cmd.Flags().StringVar(&accept, "accept", "auto", "incoming calls: auto (accept) or never (decline)")
	cmd.Flags().IntVar(&calls, "calls", 0, "exit after this many calls (0: serve until interrupted)")
	return cmd
}

func itoa(n int) string { return strconv.Itoa(n) }
