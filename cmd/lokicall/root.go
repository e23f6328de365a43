package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lokicall/lokicall/config"
	"github.com/lokicall/lokicall/lokinet"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	lokinetDNS   string
	lokinetIface string
	json         bool
	logLevel     string
	configFile   string
	// configWarning is logged once logging is set up: the default
	// configuration file could not be read and was treated as missing.
	configWarning string
	stdin         io.Reader
	stdout        io.Writer
	stderr        io.Writer
	logger        *slog.Logger
	// config is the configuration file's content, loaded before any
	// command runs.
	config *config.File
	// env replaces os.LookupEnv in tests.
	env func(string) (string, bool)
	// history is whether calls are recorded in the history file.
	history bool
	// term is the terminal, if stdin or stdout is one.
	term *terminal
}

// execute runs the command line and returns the process exit code. Errors are
// reported here, once, as one line on stderr (and as a JSON event with
// --json).
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	return g.execute(ctx, args)
}

func (g *globalOptions) execute(ctx context.Context, args []string) int {
	stdout, stderr := g.stdout, g.stderr
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if isFlagError(err) {
		err = usageError{err}
	}
	code := exitCode(err)
	if g.json {
		newEventWriter(g).error(err, code)
	}
	fmt.Fprintf(stderr, "lokicall: %v\n", err)
	return code
}

// isFlagError reports cobra's own argument and flag errors, which it returns
// as plain errors.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "unknown command", "bad flag syntax"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCommand(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "lokicall",
		Short: "Voice calls through Lokinet, with nobody learning anybody's IP address",
		Long: `lokicall makes voice calls whose signalling and media travel only through
Lokinet. Peers know each other by .loki addresses; in the default onion mode no
packet leaves through any interface but Lokinet's and no DNS query goes anywhere
but Lokinet's resolver.

Every flag can also be set by an environment variable (LOKICALL_ and the flag's
name in capitals, - as _: LOKICALL_RING_TIMEOUT for --ring-timeout) or by the
configuration file (--config, $LOKICALL_CONFIG, else config.toml in the user's
config directory), which also holds contacts. Flags win over the environment,
which wins over the file.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.loadSettings(cmd); err != nil {
				return err
			}
			level, err := parseLevel(g.logLevel)
			if err != nil {
				return usageError{err}
			}
			g.term = newTerminal(g.stdin, g.stdout)
			g.logger = slog.New(slog.NewTextHandler(g.term.lineWriter(g.stderr), &slog.HandlerOptions{Level: level}))
			if g.configWarning != "" {
				g.logger.Warn(g.configWarning)
			}
			for _, k := range g.config.UnknownKeys() {
				g.logger.Warn("config: unknown key ignored", "file", g.configFile, "key", k)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.lokinetDNS, "lokinet-dns", "", "Lokinet DNS address ADDR:PORT (default "+lokinet.Lokinet.DNSAddr+")")
	pf.StringVar(&g.lokinetIface, "lokinet-iface", "", "Lokinet interface name (default: the interface holding the node's Lokinet address)")
	pf.BoolVar(&g.json, "json", false, "write one JSON event per line to stdout")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	pf.BoolVar(&g.history, "history", true, "record calls in the history file (lokicall history)")
	pf.StringVar(&g.configFile, "config", "", "configuration file (default $"+config.Env+", else "+defaultConfigHint()+")")
	root.AddCommand(
		newWhoamiCommand(g),
		newResolveCommand(g),
		newListenCommand(g),
		newCallCommand(g),
		newPingCommand(g),
		newHistoryCommand(g),
		newDemoCommand(g),
		newContactsCommand(g),
		newDevicesCommand(g),
	)
	return root
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// resolver returns the Lokinet resolver the flags describe.
func (g *globalOptions) resolver() *lokinet.Resolver {
	return &lokinet.Resolver{Addr: g.lokinetDNS, Logger: g.logger}
}

// discover finds this node's Lokinet identity and interface.
func (g *globalOptions) discover(ctx context.Context) (*lokinet.Resolver, lokinet.Node, error) {
	r := g.resolver()
	node, err := lokinet.Discover(ctx, r, lokinet.DiscoverOptions{Interface: g.lokinetIface})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, lokinet.Node{}, err
		}
		return nil, lokinet.Node{}, fmt.Errorf("find Lokinet: %w", err)
	}
	return r, node, nil
}

// defaultConfigHint names the default configuration file for --help.
func defaultConfigHint() string {
	if p, err := config.DefaultPath(); err == nil {
		return p
	}
	return "the user's config directory/lokicall/config.toml"
}
