package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	staticOnce sync.Once
	staticBin  string
	staticErr  error
)

// staticUkbench builds the static ukbench once for the tests that run it
// as a separate process (it goes into the guest images too).
func staticUkbench(t *testing.T) string {
	t.Helper()
	staticOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ukbench-cli-test-")
		if err != nil {
			staticErr = err
			return
		}
		staticBin = filepath.Join(dir, "ukbench")
		cmd := exec.Command("go", "build", "-o", staticBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = err
			t.Logf("%s", out)
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticBin
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
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
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
					t.Skipf("ukbench boot ended before starting QEMU (%v): %s", err, out.String())
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
