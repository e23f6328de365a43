package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newWhoamiCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show this node's .loki address, Lokinet IP and interface",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, node, err := g.discover(cmd.Context())
			if err != nil {
				return err
			}
			v := struct {
				Kind      string `json:"event"`
				Address   string `json:"address"`
				IP        string `json:"ip"`
				Interface string `json:"interface"`
				Range     string `json:"range"`
			}{"whoami", node.Address.String(), node.IP.String(), node.Interface, node.Range.String()}
			newEventWriter(g).result(v, func(w io.Writer) {
				fmt.Fprintf(w, "address    %s\nip         %s\ninterface  %s\nrange      %s\n", v.Address, v.IP, v.Interface, v.Range)
			})
			return nil
		},
	}
}
