package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/targets/servers"
)

// TestStopOnSignals: the first stop signal ends the context, naming the
// signal; after it a SIGINT or SIGTERM quits with 128+signal, and a
// second hangup does not (a hangup often comes twice).
func TestStopOnSignals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sigs  []syscall.Signal // the first ends the context; the last quits
		quits int
	}{
		{"Ctrl-C twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 130},
		{"SIGTERM, then Ctrl-C", []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}, 130},
		{"hangup, then SIGTERM", []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM}, 143},
		{"hangup twice, then Ctrl-C", []syscall.Signal{syscall.SIGHUP, syscall.SIGHUP, syscall.SIGINT}, 130},
		{"Ctrl-C, hangup, then SIGTERM", []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM}, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			quit := make(chan int, 4)
			var notice, warn bytes.Buffer
			ctx, stop := stopOnSignals(context.Background(), &notice, &warn, func(code int) { quit <- code })
			defer stop()
			syscall.Kill(os.Getpid(), tc.sigs[0])
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("%v did not end the context", tc.sigs[0])
			}
			var sc stopCause
			if cause := context.Cause(ctx); !errors.As(cause, &sc) || sc.sig != tc.sigs[0] || !errors.Is(cause, context.Canceled) {
				t.Errorf("cause = %v, want a stopCause for %v wrapping context.Canceled", cause, tc.sigs[0])
			}
			for _, s := range tc.sigs[1:] {
				syscall.Kill(os.Getpid(), s)
			}
			select {
			case code := <-quit:
				if code != tc.quits {
					t.Errorf("quit(%d), want quit(%d)", code, tc.quits)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%v did not quit", tc.sigs)
			}
			if !strings.Contains(notice.String(), "Ctrl-C again quits at once") || !strings.Contains(warn.String(), "again: quitting without the clean shutdown") {
				t.Errorf("notice %q, warning %q", notice.String(), warn.String())
			}
		})
	}
}

// ukbenchChild is ukbench run as a separate process, its stdout read line
// by line.
type ukbenchChild struct {
	cmd    *exec.Cmd
	lines  chan string   // stdout, closed at its end
	stdout io.ReadCloser // the read end, which a test may close
	stderr lockedBuffer
	done   chan struct{} // closed when ukbench has ended and been waited for
	err    error         // Wait's, once done is closed
}

// startUkbench starts the static ukbench with args, its temporary
// directory tmp (where its private directories go).
func startUkbench(t *testing.T, tmp string, args ...string) *ukbenchChild {
	t.Helper()
	c := &ukbenchChild{cmd: exec.Command(staticUkbench(t), args...), lines: make(chan string, 1000), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdout, err = c.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(c.stdout)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default:
			}
		}
		close(c.lines)
	}()
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// waitLine waits for a stdout line holding s, and fails the test if
// ukbench ends first.
func (c *ukbenchChild) waitLine(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				<-c.done
				t.Fatalf("ukbench ended (%v) before printing %q\n%s", c.err, s, c.stderr.String())
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q from ukbench in 2 minutes\n%s", s, c.stderr.String())
		}
	}
}

// wait waits for ukbench to end and returns its exit status.
func (c *ukbenchChild) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("ukbench did not end within %v\n%s", within, c.stderr.String())
		return 0
	}
}

// waitFile waits for a file to exist (a fake guest's mark).
func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", path, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeGuestCampaign writes an experiment whose one guest target runs on
// testbin's fake guest in mode (it boots at once and serves HTTP), with
// a private copy of its disk, sweeping one long step; it returns the
// config's path and the fake guest's directory.
func fakeGuestCampaign(t *testing.T, mode testbin.FakeGuestMode) (cfg, guest string) {
	t.Helper()
	qemu, guest := testbin.FakeGuestQEMU(t, mode)
	cfg = filepath.Join(t.TempDir(), "signals.yaml")
	body := fmt.Sprintf(`name: signals
repeats: 1
vm: {qemu: %s, accel: tcg}
targets:
  - {name: fake, kind: osv, app: http, image: %s, cmdline: /fake, ready_line: %q}
workloads:
  - {kind: http, rates: "20", step: 5m, warmup: 0s}
`, qemu, testbin.OSvDisk(t), testbin.FakeGuestReady)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, guest
}

// privateDirs lists ukbench's private directories in tmp.
func privateDirs(tmp string) []string {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "ukbench-*"))
	return dirs
}

// guestPID is the fake guest's PID (its first start).
func guestPID(t *testing.T, guest string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(guest, testbin.FakeGuestPIDs))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(data))[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGone waits for a process to be gone (or a zombie nobody reaps).
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still runs %v after ukbench ended", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSIGHUPStopsARunCleanly: a hangup in the middle of a sweep takes the
// clean path of Ctrl-C: the guest is shut down (QMP quit), the run cut
// short goes to interrupted.jsonl, no private directory is left, and the
// exit says how to resume; this with its stdout gone (the terminal or SSH
// channel that hung up), which would have killed it at its next write.
func TestSIGHUPStopsARunCleanly(t *testing.T) {
	cfg, guest := fakeGuestCampaign(t, testbin.FakeGuestObeys)
	tmp, out := t.TempDir(), filepath.Join(t.TempDir(), "results")
	c := startUkbench(t, tmp, "run", cfg, "-o", out, "--timer-probe", "0")
	c.waitLine(t, "booted (")
	// The step table's header follows the boot line; after it nothing is
	// written for the 5-minute step, so the closed stdout is met only
	// after the hangup, as on a terminal that went away.
	c.waitLine(t, "offered/s")
	if dirs := privateDirs(tmp); len(dirs) < 2 {
		t.Fatalf("private directories during the run: %v, want the guest's and its disk copy's", dirs)
	}
	c.stdout.Close()
	c.cmd.Process.Signal(syscall.SIGHUP)
	code := c.wait(t, time.Minute)
	if code != 1 || !strings.Contains(c.stderr.String(), "campaign interrupted by SIGHUP: finished runs are kept") || !strings.Contains(c.stderr.String(), "--resume") {
		t.Errorf("exit %d after SIGHUP, want 1 with the resume hint\n%s", code, c.stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "interrupted.jsonl"))
	if err != nil || !strings.Contains(string(data), `"error":"interrupted: `) {
		t.Errorf("interrupted.jsonl: %v\n%s", err, data)
	}
	if dirs := privateDirs(tmp); len(dirs) > 0 {
		t.Errorf("private directories left: %v", dirs)
	}
	if _, err := os.Stat(filepath.Join(guest, testbin.FakeGuestQuit)); err != nil {
		t.Errorf("the guest was not shut down over QMP: %v", err)
	}
	waitGone(t, guestPID(t, guest), 10*time.Second)
}

// TestSecondCtrlCQuitsAHeldShutdown: Ctrl-C during a sweep starts the
// clean shutdown, which a guest that ignores QMP quit holds for 10 s; a
// second Ctrl-C ends ukbench at once with status 130 (the held shutdown
// would have ended with 1), and the guest dies with it.
func TestSecondCtrlCQuitsAHeldShutdown(t *testing.T) {
	cfg, guest := fakeGuestCampaign(t, testbin.FakeGuestIgnoresQuit)
	tmp, out := t.TempDir(), filepath.Join(t.TempDir(), "results")
	c := startUkbench(t, tmp, "run", cfg, "-o", out, "--timer-probe", "0")
	c.waitLine(t, "booted (")
	c.cmd.Process.Signal(syscall.SIGINT)
	waitFile(t, filepath.Join(guest, testbin.FakeGuestQuit), time.Minute) // the shutdown is under way, and held
	c.cmd.Process.Signal(syscall.SIGINT)
	if code := c.wait(t, time.Minute); code != 130 || !strings.Contains(c.stderr.String(), "SIGINT again: quitting") {
		t.Errorf("exit %d after a second Ctrl-C, want 130 at once\n%s", code, c.stderr.String())
	}
	waitGone(t, guestPID(t, guest), 10*time.Second)
}

// TestNohupKeepsSIGHUPIgnored: under nohup (SIGHUP ignored from the
// start) ukbench leaves SIGHUP ignored, so a hangup does not stop it; it
// catches SIGINT and SIGTERM, and SIGTERM still ends it.
func TestNohupKeepsSIGHUPIgnored(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", `trap "" HUP; exec "$0" serve http --listen 127.0.0.1:0`, staticUkbench(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	addr := ""
	for addr == "" && sc.Scan() {
		_, addr, _ = servers.ParseReadyLine(sc.Text())
	}
	if addr == "" {
		t.Fatalf("no ready line from ukbench serve: %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	// The signals are set up before the server starts: its ready line
	// says they are in place.
	ignored, caught := signalMasks(t, cmd.Process.Pid)
	if ignored&sigBit(syscall.SIGHUP) == 0 || caught&sigBit(syscall.SIGHUP) != 0 {
		t.Errorf("SIGHUP under nohup: ignored %v, caught %v; want it left ignored", ignored&sigBit(syscall.SIGHUP) != 0, caught&sigBit(syscall.SIGHUP) != 0)
	}
	if caught&sigBit(syscall.SIGINT) == 0 || caught&sigBit(syscall.SIGTERM) == 0 {
		t.Errorf("SIGINT and SIGTERM not caught (caught mask %x)", caught)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("after SIGHUP under nohup: %v\n%s", err, stderr.String())
	}
	resp.Body.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("ukbench serve after SIGTERM: %v, want exit 0\n%s", err, stderr.String())
	}
}

// signalMasks reads a process's ignored and caught signals.
func signalMasks(t *testing.T, pid int) (ignored, caught uint64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		switch k {
		case "SigIgn":
			ignored = n
		case "SigCgt":
			caught = n
		}
	}
	return ignored, caught
}

func sigBit(s syscall.Signal) uint64 { return 1 << (uint(s) - 1) }
