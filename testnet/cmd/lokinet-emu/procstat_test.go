package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestProcStatFindsItself: procstat by this test binary's command name
// reports this process with its memory and CPU time.
func TestProcStatFindsItself(t *testing.T) {
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip("no procfs:", err)
	}
	buf := make([]byte, 64<<20) // some resident memory and CPU time to see
	for i := range buf {
		buf[i] = byte(i)
	}
	var out bytes.Buffer
	if err := runProcStat(context.Background(), []string{"-name", strings.TrimSpace(string(comm))}, &out, nil); err != nil {
		t.Fatal(err)
	}
	var got []procSample
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	var me *procSample
	for i := range got {
		if got[i].PID == os.Getpid() {
			me = &got[i]
		}
	}
	if me == nil {
		t.Fatalf("own pid %d not in %s", os.Getpid(), out.Bytes())
	}
	if me.RSSBytes < len(buf) || me.CPUSeconds <= 0 || me.Threads < 1 {
		t.Errorf("implausible sample %+v (buffer of %d bytes touched)", *me, len(buf))
	}
	out.Reset()
	if err := runProcStat(context.Background(), []string{"-name", "no-such-process"}, &out, nil); err != nil || strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("unknown name: %q, %v; want []", out.String(), err)
	}
	_ = buf[len(buf)-1]
}
