package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/config"
	"github.com/lokicall/lokicall/lokinet"
)

func newContactsCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "List, add and remove contacts (name → .loki address) in the config file",
		Long: `Contacts live in the [contacts] table of the configuration file. Edits keep
the rest of the file (comments, order, other settings) as it is and replace the
file atomically. A contact's name can be used wherever an address can
("lokicall call alice", "alice:7788"), and incoming calls from a contact show
its name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runContactsList(g) },
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List contacts",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return runContactsList(g) },
		},
		&cobra.Command{
			Use:   "add NAME ADDRESS|lokicall:ADDRESS",
			Short: "Add a contact, or change its address (a .loki address or the lokicall: URI of a shared QR code)",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runContactsAdd(g, args[0], args[1])
			},
		},
		&cobra.Command{
			Use:     "rm NAME",
			Aliases: []string{"remove"},
			Short:   "Remove a contact",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := config.RemoveContact(g.configFile, args[0]); err != nil {
					return err
				}
				g.logger.Info("contact removed", "name", args[0], "file", g.configFile)
				newEventWriter(g).result(contactJSON{Event: "contact-removed", Name: args[0]}, func(w io.Writer) {
					fmt.Fprintf(w, "removed %s\n", args[0])
				})
				return nil
			},
		},
	)
	return cmd
}

type contactJSON struct {
	Event   string `json:"event,omitempty"`
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
}

func runContactsList(g *globalOptions) error {
	list := g.config.ContactList()
	w := newEventWriter(g)
	if g.json {
		for _, c := range list {
			w.result(contactJSON{Event: "contact", Name: c.Name, Address: c.Address.String()}, nil)
		}
		return nil
	}
	w.result(nil, func(out io.Writer) {
		if len(list) == 0 {
			fmt.Fprintf(out, "no contacts in %s; add one with: lokicall contacts add NAME ADDRESS.loki\n", g.configFile)
			return
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%s\n", c.Name, c.Address)
		}
		_ = tw.Flush()
	})
	return nil
}

func runContactsAdd(g *globalOptions, name, address string) error {
	a, err := lokinet.ParseShared(address)
	if err != nil {
		return usageError{fmt.Errorf("contact %q: %w", name, err)}
	}
	replaced, err := config.AddContact(g.configFile, name, a)
	if err != nil {
		return err
	}
	verb := "added"
	if replaced {
		verb = "updated"
	}
	newEventWriter(g).result(contactJSON{Event: "contact-" + verb, Name: name, Address: a.String()}, func(w io.Writer) {
		fmt.Fprintf(w, "%s %s = %s (%s)\n", verb, name, a, g.configFile)
	})
	return nil
}
