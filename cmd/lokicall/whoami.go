package main

import (
	"fmt"
	"io"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/lokinet"
)

func newWhoamiCommand(g *globalOptions) *cobra.Command {
	var qr bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show this node's .loki address, Lokinet IP and interface",
		Long: `Show this node's .loki address, Lokinet IP and interface. --qr also draws the
address as a QR code in the terminal, holding the URI lokicall:ADDRESS.loki,
which "lokicall contacts add NAME URI" accepts as it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, node, err := g.discover(cmd.Context())
			if err != nil {
				return err
			}
			v := struct {
				Kind      string `json:"event"`
				Address   string `json:"address"`
				URI       string `json:"uri"`
				IP        string `json:"ip"`
				Interface string `json:"interface"`
				Range     string `json:"range"`
			}{"whoami", node.Address.String(), lokinet.URI(node.Address), node.IP.String(), node.Interface, node.Range.String()}
			newEventWriter(g).result(v, func(w io.Writer) {
				fmt.Fprintf(w, "address    %s\nip         %s\ninterface  %s\nrange      %s\n", v.Address, v.IP, v.Interface, v.Range)
				if qr {
					fmt.Fprintf(w, "\n%s\n", v.URI)
					writeQR(w, v.URI)
				}
			})
			return nil
		},
	}
	cmd.Flags().BoolVar(&qr, "qr", false, "also draw the address as a QR code (the URI lokicall:ADDRESS.loki)")
	return cmd
}

// writeQR draws text as a QR code of half blocks, two modules a character
// high, inside a quiet zone: light modules are drawn, dark ones left as the
// terminal's background, which suits a dark terminal (scanners also read
// the inverse a light one shows).
func writeQR(w io.Writer, text string) {
	qrterminal.GenerateWithConfig(text, qrterminal.Config{
		Level:          qrterminal.M,
		Writer:         w,
		HalfBlocks:     true,
		BlackChar:      qrterminal.BLACK_BLACK,
		WhiteBlackChar: qrterminal.WHITE_BLACK,
		WhiteChar:      qrterminal.WHITE_WHITE,
		BlackWhiteChar: qrterminal.BLACK_WHITE,
		QuietZone:      2,
	})
}
