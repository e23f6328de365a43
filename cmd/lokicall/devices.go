package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/media"
)

func newDevicesCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the sound devices that --in device:NAME and --out device:NAME select",
		Long: `List the capture and playback devices of the audio system, each with its
index, name, backend ID and whether it is the system default. --in device:X and
--out device:X select a device by index, ID, exact name or a unique part of its
name; "device" alone is the default. With --json, one object per device.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevices(cmd.Context(), g)
		},
	}
}

// deviceEntry is one device as --json writes it.
type deviceEntry struct {
	Kind    string `json:"event"`
	Type    string `json:"kind"`
	Index   int    `json:"index"`
	Name    string `json:"name"`
	ID      string `json:"id"`
	Default bool   `json:"default"`
}

func runDevices(ctx context.Context, g *globalOptions) error {
	list, err := media.ListDevices(ctx)
	if err != nil {
		return err
	}
	w := newEventWriter(g)
	if g.json {
		for _, d := range list {
			w.result(deviceEntry{"device", d.Kind.String(), d.Index, d.Name, d.ID, d.Default}, nil)
		}
		return nil
	}
	w.result(nil, func(out io.Writer) { printDevices(out, list) })
	return nil
}

// printDevices writes the devices as a table per kind.
func printDevices(out io.Writer, list []media.DeviceInfo) {
	for _, kind := range []media.DeviceKind{media.DeviceCapture, media.DevicePlayback} {
		fmt.Fprintf(out, "%s devices:\n", kind)
		n := 0
		for _, d := range list {
			if d.Kind != kind {
				continue
			}
			n++
			def := ""
			if d.Default {
				def = "  (default)"
			}
			fmt.Fprintf(out, "  %2d  %s  [%s]%s\n", d.Index, strings.TrimSpace(d.Name), d.ID, def)
		}
		if n == 0 {
			fmt.Fprintln(out, "  none")
		}
	}
}
