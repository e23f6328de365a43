package main

import (
	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/lokinet"
)

func newCallCommand(g *globalOptions) *cobra.Command {
	var o callOptions
	cmd := &cobra.Command{
		Use:   "call ADDRESS[:PORT]",
		Short: "Call a .loki address (port " + itoa(call.DefaultPort) + " unless given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := lokinet.ParseTarget(args[0])
			if err != nil {
				return usageError{err}
			}
			w := newEventWriter(g)
			cfg, err := o.config(cmd.Context(), g, w.event)
			if err != nil {
				return err
			}
			_, err = call.Dial(cmd.Context(), cfg, target)
			return err
		},
	}
	o.register(cmd.Flags(), "tone:440")
	return cmd
}
