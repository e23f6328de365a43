package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/lokinet"
)

func newResolveCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "resolve NAME",
		Short: "Resolve a .loki address or name through Lokinet's DNS to this node's view of it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := lokinet.ParseTarget(args[0])
			if err != nil {
				return err
			}
			ip, err := g.resolver().LookupIP(cmd.Context(), target.Host)
			if err != nil {
				return err
			}
			v := struct {
				Kind string `json:"event"`
				Name string `json:"name"`
				IP   string `json:"ip"`
			}{"resolve", target.Host, ip.String()}
			newEventWriter(g).result(v, func(w io.Writer) { fmt.Fprintf(w, "%s  %s\n", v.Name, v.IP) })
			return nil
		},
	}
}
