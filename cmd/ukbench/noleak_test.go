package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/testbin"
)

// staticUkbench is the static ukbench, built once, for tests that run it
// as a separate process.
func staticUkbench(t *testing.T) string {
	t.Helper()
	bin, err := testbin.Static()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// childQEMU returns the PID of a qemu-system process whose parent is ppid.
func childQEMU(ppid int) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(qemu-system") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

// TestNoQEMUOutlivesUkbench starts `ukbench boot`, waits for its QEMU, then
// interrupts ukbench (Ctrl-C) or kills it outright (SIGKILL): either way the
// QEMU process must be gone.
func TestNoQEMUOutlivesUkbench(t *testing.T) {
	testbin.NeedQEMU(t)
	bin := staticUkbench(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "boot", "linux:dns", "--runs", "1", "--timeout", "5m")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var qemu int
			deadline := time.Now().Add(3 * time.Minute) // a first run fetches the kernel
			for qemu == 0 {
				select {
				case err := <-done:
					testbin.SkipOrFail(t, fmt.Sprintf("ukbench boot ended before starting QEMU (%v): %s", err, out.String()))
				case <-time.After(50 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no QEMU started in time: %s", out.String())
				}
				qemu = childQEMU(cmd.Process.Pid)
			}
			cmd.Process.Signal(sig)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("ukbench did not exit within 30 s of %v", sig)
			}
			// QEMU is reaped by ukbench (SIGINT) or by init (SIGKILL, via
			// the parent-death signal): wait for it to vanish.
			gone := time.Now().Add(10 * time.Second)
			for syscall.Kill(qemu, 0) == nil {
				if time.Now().After(gone) {
					syscall.Kill(qemu, syscall.SIGKILL)
					t.Fatalf("QEMU %d outlived ukbench after %v", qemu, sig)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestMain(m *testing.M) {
	testbin.FakeGuestMain() // when run as a test's QEMU
	// Run under nohup, the suite starts with SIGHUP ignored, and so would
	// every ukbench it starts (an ignored signal survives exec), while the
	// hangup tests need it as a terminal gives it. A sink that drops it
	// keeps this process alive through a hangup all the same.
	if signal.Ignored(syscall.SIGHUP) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
