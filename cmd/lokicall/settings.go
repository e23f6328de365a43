package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lokicall/lokicall/config"
	"github.com/lokicall/lokicall/lokinet"
)

// envPrefix starts the environment variable of every flag: --ring-timeout
// is LOKICALL_RING_TIMEOUT.
const envPrefix = "LOKICALL_"

// envName returns the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// configPath returns the configuration file to use: --config, then
// LOKICALL_CONFIG, then the user's config directory.
func (g *globalOptions) configPath() (string, error) {
	if g.configFile != "" {
		return g.configFile, nil
	}
	if p := g.getenv(config.Env); p != "" {
		return p, nil
	}
	return config.DefaultPath()
}

// loadSettings reads the configuration file and gives every flag the user
// did not set its value from the environment or, failing that, the file:
// flags > environment (LOKICALL_*) > config file > built-in defaults.
func (g *globalOptions) loadSettings(cmd *cobra.Command) error {
	path, err := g.configPath()
	if err != nil {
		return err
	}
	named := g.configFile != "" || g.getenv(config.Env) != ""
	g.configFile = path
	f, err := config.Load(path)
	if err != nil && !named && errors.Is(err, fs.ErrPermission) {
		// A service account may run with a home it cannot read: the
		// default file is then treated as missing (the built-in
		// settings, no contacts), with a warning once logging is set up.
		g.configWarning = fmt.Sprintf("config: %v; using the built-in settings and no contacts (--config or $%s names another file)", err, config.Env)
		f, err = &config.File{}, nil
	}
	if err != nil {
		return err
	}
	g.config = f
	fromFile := f.FlagValues()
	var errs []error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" || fl.Name == "help" {
			return
		}
		if v, ok := g.lookupEnv(envName(fl.Name)); ok {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, usageError{fmt.Errorf("%s=%q: %w", envName(fl.Name), v, err)})
			}
			fl.Changed = true
			return
		}
		if v, ok := fromFile[fl.Name]; ok {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, usageError{fmt.Errorf("config %s: %s = %q: %w", path, fl.Name, v, err)})
			}
			fl.Changed = true
		}
	})
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func (g *globalOptions) getenv(k string) string {
	v, _ := g.lookupEnv(k)
	return v
}

func (g *globalOptions) lookupEnv(k string) (string, bool) {
	if g.env != nil {
		return g.env(k)
	}
	return os.LookupEnv(k)
}

// contactName returns the contact name of a .loki address, if any.
func (g *globalOptions) contactName(addr string) (string, bool) {
	if g.config == nil {
		return "", false
	}
	a, err := lokinet.ParseAddress(addr)
	if err != nil {
		return "", false
	}
	return g.config.NameOf(a)
}

// isContact reports whether a is in the contact list.
func (g *globalOptions) isContact(a lokinet.Address) bool {
	if g.config == nil {
		return false
	}
	_, ok := g.config.NameOf(a)
	return ok
}

// displayName names a peer for people: "alice" for a contact, else a short
// form of the .loki address.
func (g *globalOptions) displayName(addr string) string {
	if n, ok := g.contactName(addr); ok {
		return n
	}
	return shortAddress(addr)
}

// longName names a peer with both: "alice (kx3y…h9ea.loki)", or the full
// address when it is not a contact.
func (g *globalOptions) longName(addr string) string {
	if n, ok := g.contactName(addr); ok {
		return n + " (" + shortAddress(addr) + ")"
	}
	return addr
}

// shortAddress shortens a 52-character .loki address to its first and last
// four characters; anything else is returned as is.
func shortAddress(addr string) string {
	host := strings.TrimSuffix(addr, ".loki")
	if len(host) != len(addr) && len(host) > 12 {
		return host[:4] + "…" + host[len(host)-4:] + ".loki"
	}
	return addr
}

// resolveTarget turns `call`'s argument into a target: a contact name
// (optionally with :PORT) first, else a .loki address or ONS name.
func (g *globalOptions) resolveTarget(arg string) (lokinet.Target, error) {
	if g.config != nil {
		name, port, hasPort := strings.Cut(arg, ":")
		if a, ok := g.config.Lookup(name); ok {
			s := a.String()
			if hasPort {
				s += ":" + port
			}
			return lokinet.ParseTarget(s)
		}
	}
	t, err := lokinet.ParseTarget(arg)
	if err != nil && !strings.Contains(arg, ".") {
		return t, fmt.Errorf("%q is neither a contact (lokicall contacts list) nor a .loki address: %w", arg, err)
	}
	return t, err
}
