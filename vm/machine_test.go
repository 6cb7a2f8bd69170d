package vm

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/qmptest"

	"github.com/ukbench/ukbench/internal/privdir"
)

// fakeConfig is a config whose "QEMU" is this test binary in a fake mode.
func fakeConfig(t *testing.T, mode string) Config {
	t.Helper()
	t.Setenv("UKBENCH_FAKE_QEMU", mode)
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	os.WriteFile(kernel, []byte("not a kernel"), 0o644)
	return Config{Shape: Shape{QEMU: os.Args[0], Accel: AccelTCG}, Kernel: kernel, ConsoleLog: filepath.Join(dir, "console.log"),
		Net: Network{Forwards: []Forward{{Proto: "udp", GuestPort: 53}, {Proto: "tcp", GuestPort: 53}, {Proto: "tcp", GuestPort: 80}}}}
}

func processGone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

func TestMachineLifecycle(t *testing.T) {
	cfg := fakeConfig(t, "ok")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ready := m.WatchConsole("fake guest: ready")
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, dir := m.PID(), m.dir
	// The private directory is findable as a live ukbench's: a sweep
	// leaves it, and removes it once its owner is dead (privdir's tests).
	if _, err := os.Stat(filepath.Join(dir, privdir.LockName)); err != nil || filepath.Dir(dir) != tmp {
		t.Errorf("private directory %s: want one of privdir's in $TMPDIR: %v", dir, err)
	}
	if removed, err := privdir.SweepIn(tmp); len(removed) > 0 || err != nil {
		t.Errorf("sweep removed a live machine's directory: %v, %v", removed, err)
	}
	if f := m.Forwards(); f[0].HostPort == 0 || f[1].HostPort != f[0].HostPort || f[2].HostPort == f[0].HostPort {
		t.Errorf("forwards %v: want a host port each, one shared by udp and tcp to guest port 53 (one DNS address)", f)
	}
	d, err := ready.Wait(ctx)
	if err != nil || d <= 0 {
		t.Fatalf("marker: %v, %v", d, err)
	}
	if st, err := m.Status(); err != nil || st != "running" {
		t.Errorf("Status = %q, %v", st, err)
	}
	if rss, _, err := m.Memory(); err != nil || rss <= 0 {
		t.Errorf("Memory = %d, %v", rss, err)
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Errorf("QEMU %d still running after Shutdown", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("private directory %s left behind", dir)
	}
	log, _ := os.ReadFile(cfg.ConsoleLog)
	if !strings.Contains(string(log), "fake guest: ready") {
		t.Errorf("console log = %q", log)
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestShutdownKillsAQEMUThatIgnoresQuit(t *testing.T) {
	defer func(d time.Duration) { quitTimeout = d }(quitTimeout)
	quitTimeout = 200 * time.Millisecond
	m, err := New(fakeConfig(t, "ignore-quit"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := m.PID()
	m.Shutdown(context.Background())
	if !processGone(pid) {
		t.Fatalf("QEMU %d survived Shutdown", pid)
	}
	if err := m.Wait(context.Background()); !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait = %v, want a killed QEMU", err)
	}
}

func TestStartReportsQEMUsOwnError(t *testing.T) {
	m, err := New(fakeConfig(t, "exit-early"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Start(context.Background())
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "could not open kernel file") {
		t.Fatalf("Start = %v, want ErrExited with QEMU's message", err)
	}
	if !processGone(m.PID()) {
		t.Error("QEMU left running")
	}
}

func TestMarkerFailsWhenQEMUExitsFirst(t *testing.T) {
	m, err := New(fakeConfig(t, "ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	never := m.WatchConsole("a line that never comes")
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	go m.Shutdown(context.Background())
	_, err = never.Wait(context.Background())
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "fake guest: ready") {
		t.Fatalf("Wait = %v, want ErrExited with the console's last lines", err)
	}
}

// A guest KVM gave up on (QEMU reports a KVM internal error and waits
// with the guest stopped) fails its readiness wait at once, saying so,
// and leaves no QEMU: the boot does not run to its timeout.
func TestKVMInternalErrorEndsTheBoot(t *testing.T) {
	m, err := New(fakeConfig(t, "internal-error"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	ready := m.WatchConsole("fake guest: ready")
	if err := m.Start(context.Background()); err != nil && !errors.Is(err, ErrExited) {
		t.Fatal(err)
	}
	// The bound only keeps a broken build from hanging the suite.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = ready.Wait(ctx)
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "KVM internal error. Suberror: 1 (emulation failure): KVM cannot run this guest") {
		t.Fatalf("Wait = %v, want ErrExited naming the KVM internal error", err)
	}
	if !processGone(m.PID()) {
		t.Error("QEMU left running")
	}
}

func TestStartHonoursContext(t *testing.T) {
	cfg := fakeConfig(t, "ok")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// QEMU starts, but QMP is never waited for: Start fails and kills it.
	if err := m.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	if pid := m.PID(); pid != 0 && !processGone(pid) {
		t.Error("QEMU left running after a cancelled Start")
	}
}

// TestHungQMPFailsStart uses go-qemu's qmptest fake as the monitor: a QEMU
// whose QMP never answers makes Start fail in bounded time, and the
// process is killed.
func TestHungQMPFailsStart(t *testing.T) {
	defer func(c, q time.Duration) { qmpCommandTimeout, quitTimeout = c, q }(qmpCommandTimeout, quitTimeout)
	qmpCommandTimeout, quitTimeout = 100*time.Millisecond, 100*time.Millisecond
	release := make(chan struct{})
	defer close(release)
	dial := func(string, time.Duration) (qmp.Monitor, error) {
		return qmptest.NewMonitor(func(qmp.Command) (any, error) {
			<-release // never answers while the test runs
			return nil, nil
		}), nil
	}
	m, err := New(fakeConfig(t, "ok"), dial)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Start(context.Background())
	if !errors.Is(err, ErrQMPCommandTimeout) {
		t.Fatalf("Start = %v, want ErrQMPCommandTimeout", err)
	}
	if !processGone(m.PID()) {
		t.Error("QEMU left running after a failed Start")
	}
}

func TestShutdownPowersDownFirstWhenAsked(t *testing.T) {
	cfg := fakeConfig(t, "powerdown")
	cfg.Powerdown = true
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	off := m.WatchConsole("fake guest: powering off")
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The guest powered itself off: QEMU exited cleanly, not by a kill.
	if _, err := off.Wait(context.Background()); err != nil {
		t.Errorf("no power-off: %v", err)
	}
	if err := m.Wait(context.Background()); !strings.Contains(err.Error(), "exited") || strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait = %v", err)
	}
}

func TestStartErrorsNameTheProblem(t *testing.T) {
	cfg := fakeConfig(t, "ok")
	cfg.QEMU = "qemu-system-nonexistent"
	m, _ := New(cfg, nil)
	if err := m.Start(context.Background()); !errors.Is(err, ErrNoQEMU) || !strings.Contains(err.Error(), "apt-get install qemu-system-x86") {
		t.Errorf("QEMU missing: %v", err)
	}
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg = fakeConfig(t, "ok")
	cfg.Net.Forwards = []Forward{{Proto: "tcp", GuestPort: 80, HostPort: busy.Addr().(*net.TCPAddr).Port}}
	m, _ = New(cfg, nil)
	if err := m.Start(context.Background()); !errors.Is(err, ErrPortTaken) || !strings.Contains(err.Error(), "forwards[0]") {
		t.Errorf("port taken: %v", err)
	}
}

// TestReadinessTimeoutAndCancelMidBoot: a guest that never prints its
// readiness line fails the wait with the console's last lines, and a boot
// cancelled midway leaves no QEMU within 5 s.
func TestReadinessTimeoutAndCancelMidBoot(t *testing.T) {
	m, err := New(fakeConfig(t, "ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	never := m.WatchConsole("ukbench serve: ready")
	booting := m.WatchConsole("fake guest: booting")
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := booting.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = never.Wait(tctx)
	tcancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "fake guest: booting") {
		t.Errorf("readiness timeout: %v, want the deadline and the console's last lines", err)
	}
	cancel() // Ctrl-C mid-boot
	pid := m.PID()
	start := time.Now()
	m.Shutdown(context.Background())
	if !processGone(pid) || time.Since(start) > 5*time.Second {
		t.Errorf("QEMU %d still there %v after the cancel", pid, time.Since(start))
	}
}

// TestShutdownReportsEveryCleanupError: every cleanup runs, last first, and
// Shutdown returns all of their errors, not the first.
func TestShutdownReportsEveryCleanupError(t *testing.T) {
	m, err := New(fakeConfig(t, "ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, name := range []string{"first pushed", "second pushed"} {
		m.push(name, func() error { order = append(order, name); return errors.New(name + " failed") })
	}
	err = m.Shutdown(context.Background())
	for _, want := range []string{"vm cleanup first pushed: first pushed failed", "vm cleanup second pushed: second pushed failed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Shutdown = %v, want it to contain %q", err, want)
		}
	}
	if len(order) != 2 || order[0] != "second pushed" {
		t.Errorf("cleanups ran %q, want both, last pushed first", order)
	}
}

// TestMachineGettersDuringStart reads what Start decides while Start runs:
// under -race this fails if anything Start writes is read unguarded.
func TestMachineGettersDuringStart(t *testing.T) {
	m, err := New(fakeConfig(t, "ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-m.Exited():
				return
			default:
			}
			_, _, _, _ = m.Forwards(), m.Accel(), m.QMPReady(), m.Tap()
			if _, err := m.CommandLine(context.Background()); err != nil {
				t.Error(err)
				return
			}
			if m.QMPReady() > 0 {
				return
			}
		}
	}()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	if f := m.Forwards(); f[0].HostPort == 0 {
		t.Errorf("forwards after Start: %v", f)
	}
}

// A cleanup added before Start runs at Shutdown after QEMU has exited and
// after Start's own cleanups (a private disk QEMU had open goes last).
func TestOnShutdownRunsLastOnceQEMUIsGone(t *testing.T) {
	m, err := New(fakeConfig(t, "ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	ran := false
	m.OnShutdown("check", func() error {
		ran = true
		if !processGone(pid) {
			t.Errorf("cleanup ran while QEMU %d was running", pid)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cleanup ran before the private directory's removal: %v", err)
		}
		return errors.New("check failed")
	})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid, dir = m.PID(), m.dir
	if err := m.Shutdown(context.Background()); !ran || err == nil || !strings.Contains(err.Error(), "check failed") {
		t.Errorf("Shutdown = %v, ran %v; want the cleanup run and its error returned", err, ran)
	}
}

// slowGreeting is a QMP monitor whose handshake waits for release, and
// which records a Disconnect made while Connect still runs (go-qemu's
// socket monitor races there).
type slowGreeting struct {
	qmp.Monitor
	release      chan struct{}
	connecting   atomic.Bool
	disconnected chan struct{}
	during       atomic.Bool // Disconnect came while Connect ran
}

func (m *slowGreeting) Connect() error {
	m.connecting.Store(true)
	defer m.connecting.Store(false)
	<-m.release
	return nil
}

func (m *slowGreeting) Disconnect() error {
	m.during.Store(m.connecting.Load())
	close(m.disconnected)
	return nil
}

// A handshake given up on is disconnected, but only once its Connect has
// returned: never beside it.
func TestAbandonedHandshakeDisconnectsAfterConnect(t *testing.T) {
	mon := &slowGreeting{release: make(chan struct{}), disconnected: make(chan struct{})}
	if err := connectWithin(mon, 10*time.Millisecond); !errors.Is(err, ErrQMPCommandTimeout) {
		t.Fatalf("connectWithin = %v, want ErrQMPCommandTimeout", err)
	}
	select {
	case <-mon.disconnected:
		t.Fatal("disconnected while the handshake still ran")
	default:
	}
	close(mon.release)
	<-mon.disconnected
	if mon.during.Load() {
		t.Error("Disconnect ran beside Connect")
	}
}
