package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// procSample is one process's resource use as procstat prints it.
type procSample struct {
	PID     int       `json:"pid"`
	Comm    string    `json:"comm"`
	Cmdline string    `json:"cmdline"`
	At      time.Time `json:"at"`
	// RSSBytes is the resident set; CPUSeconds the user + system time
	// since the process started.
	RSSBytes   int     `json:"rss_bytes"`
	CPUSeconds float64 `json:"cpu_s"`
	Threads    int     `json:"threads"`
}

// runProcStat prints, as one JSON array, the resident memory, CPU time and
// threads of every process in this PID namespace whose command name is
// -name (lokicall by default), read from /proc.
func runProcStat(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := flag.NewFlagSet("procstat", flag.ContinueOnError)
	name := fs.String("name", "lokicall", "command name (/proc/PID/comm) of the processes to report")
	root := fs.String("proc", procfs.DefaultMountPoint, "where procfs is mounted")
	if err := parse(fs, args); err != nil {
		return err
	}
	pfs, err := procfs.NewFS(*root)
	if err != nil {
		return fmt.Errorf("procstat: %w", err)
	}
	procs, err := pfs.AllProcs()
	if err != nil {
		return fmt.Errorf("procstat: list %s: %w", *root, err)
	}
	out := []procSample{}
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil || st.Comm != *name {
			continue // gone since the listing, or another program
		}
		cmd, _ := p.CmdLine()
		out = append(out, procSample{PID: p.PID, Comm: st.Comm, Cmdline: strings.Join(cmd, " "), At: time.Now().UTC(),
			RSSBytes: st.ResidentMemory(), CPUSeconds: st.CPUTime(), Threads: st.NumThreads})
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return fmt.Errorf("procstat: %w", err)
	}
	return nil
}
