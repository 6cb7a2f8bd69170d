package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/ukbench/ukbench/internal/privdir"
)

// Sentinel errors of a machine's life.
var (
	ErrExited     = errors.New("QEMU exited")
	ErrQMPTimeout = errors.New("QMP not ready in time")
	ErrNoQEMU     = errors.New("QEMU not found")
	ErrPortTaken  = errors.New("host port taken")
)

// noQEMU is ErrNoQEMU with the cause and the way to install QEMU.
func noQEMU(err error) error {
	return fmt.Errorf("%w: %w (on Debian: apt-get install qemu-system-x86, or make deps-vm)", ErrNoQEMU, err)
}

// Timeouts of the lifecycle; variables so tests can shorten them.
var (
	qmpReadyTimeout   = 60 * time.Second // exec to QMP answering
	quitTimeout       = 10 * time.Second // QMP quit to process exit, before SIGKILL
	powerdownTimeout  = 30 * time.Second // system_powerdown to the guest's power-off, before quit
	qmpCommandTimeout = 10 * time.Second // one QMP command
)

// ErrQMPCommandTimeout is returned when QEMU does not answer a QMP command.
var ErrQMPCommandTimeout = errors.New("QMP command timed out")

// connectWithin does the QMP handshake, giving up after timeout (go-qemu's
// Connect reads the greeting without a deadline). An abandoned handshake
// is disconnected once its Connect returns: go-qemu's Disconnect must not
// run beside Connect (both use the monitor's fields unlocked), and Connect
// returns when QEMU greets or the connection ends (QEMU exits, or is
// killed when the start gives up). Until then QEMU serves no other QMP
// client, so a later attempt waits for this one.
func connectWithin(mon qmp.Monitor, timeout time.Duration) error {
	c := make(chan error, 1)
	go func() { c <- mon.Connect() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-c:
		return err
	case <-t.C:
		go func() {
			<-c
			mon.Disconnect()
		}()
		return fmt.Errorf("%w: no QMP greeting within %v", ErrQMPCommandTimeout, timeout)
	}
}

// runQMP runs one command, giving up after timeout (go-qemu's Run has no
// deadline; the abandoned call ends when the connection closes).
func runQMP(mon qmp.Monitor, cmd []byte, timeout time.Duration) ([]byte, error) {
	type reply struct {
		out []byte
		err error
	}
	c := make(chan reply, 1)
	go func() {
		out, err := mon.Run(cmd)
		c <- reply{out, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-c:
		return r.out, r.err
	case <-t.C:
		return nil, fmt.Errorf("%w: %s after %v", ErrQMPCommandTimeout, cmd, timeout)
	}
}

// Dialer connects to QMP at a unix socket path; go-qemu's SocketMonitor by
// default, a fake (go-qemu's qmptest) in tests.
type Dialer func(path string, timeout time.Duration) (qmp.Monitor, error)

func dialSocket(path string, timeout time.Duration) (qmp.Monitor, error) {
	m, err := qmp.NewSocketMonitor("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Machine is one QEMU process and everything started for it. Start it once;
// Shutdown it always (it is safe to call Shutdown more than once, from any
// goroutine, and after a failed Start). Its methods are safe for concurrent
// use: what Start decides is published under mu, and the getters read it
// there.
type Machine struct {
	// Set by New and never written again.
	dial   Dialer
	con    *console      // has its own lock
	stderr *tailBuffer   // has its own lock; rings on a KVM internal error
	exited chan struct{} // closed when QEMU has exited and been reaped

	// mu guards every field below it up to waitErr: cfg's network part
	// (the forwards' host ports and the tap's name, chosen by Start; the
	// rest of cfg is fixed by New) and what each step of Start records.
	mu       sync.Mutex
	cfg      Config
	accel    AccelChoice
	dir      string // private directory
	qmp      string // QMP socket path, in dir
	cmd      *exec.Cmd
	mon      qmp.Monitor
	started  time.Time
	qmpReady time.Duration
	cleanups []cleanup

	// waitErr is written once, before exited is closed, and read after.
	waitErr  error
	stopOnce sync.Once
	stopErr  error // written inside stopOnce
}

// locked runs fn under m.mu.
func (m *Machine) locked(fn func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn()
}

type cleanup struct {
	name string
	fn   func() error
}

// New validates cfg and returns a machine ready to Start. dial may be nil
// for go-qemu's socket monitor.
func New(cfg Config, dial Dialer) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dial == nil {
		dial = dialSocket
	}
	cfg = cfg.WithDefaults()
	cfg.Net.Forwards = append([]Forward(nil), cfg.Net.Forwards...)
	return &Machine{cfg: cfg, dial: dial, con: newConsole(), exited: make(chan struct{}), stderr: newAlarmBuffer(4096, kvmInternalError)}, nil
}

// WatchConsole registers a console line to wait for (a line containing
// substr). Call it before Start.
func (m *Machine) WatchConsole(substr string) *Marker {
	return &Marker{m: m, w: m.con.watch(substr)}
}

// StartedAt is when QEMU was exec'd (zero before Start); boot figures count
// from it.
func (m *Machine) StartedAt() time.Time { return m.startTime() }

func (m *Machine) startTime() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.started
}

// Accel is the accelerator the machine runs under (after Start).
func (m *Machine) Accel() string { return m.AccelChoice().Accel }

// AccelChoice is the accelerator the machine runs under and why (after
// Start).
func (m *Machine) AccelChoice() (c AccelChoice) {
	m.locked(func() { c = m.accel })
	return c
}

// Forwards are the host→guest forwards with their host ports (after Start).
func (m *Machine) Forwards() (f []Forward) {
	m.locked(func() { f = append([]Forward(nil), m.cfg.Net.Forwards...) })
	return f
}

// Tap is the tap device's name in tap mode (after Start).
func (m *Machine) Tap() (tap string) {
	m.locked(func() { tap = m.cfg.Net.Tap })
	return tap
}

// PID is QEMU's process ID, 0 before Start.
func (m *Machine) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// QMPReady is the time from exec to QMP answering query-status.
func (m *Machine) QMPReady() (d time.Duration) {
	m.locked(func() { d = m.qmpReady })
	return d
}

// Exited is closed when the QEMU process has exited.
func (m *Machine) Exited() <-chan struct{} { return m.exited }

// PrivateDirPlaceholder stands for a private directory in a command line
// shown before the directory exists (--dry-run).
const PrivateDirPlaceholder = "PRIVATE_DIR"

// CommandLine is the QEMU command that Start runs (program first), for
// logs and --dry-run. The accelerator is resolved (auto may probe KVM,
// within ctx); ports are those chosen (0 before Start).
func (m *Machine) CommandLine(ctx context.Context) ([]string, error) {
	var cfg Config
	var accel, qmpPath string
	m.locked(func() { cfg, accel, qmpPath = m.cfg, m.accel.Accel, m.qmp })
	if accel == "" {
		c, err := ResolveAccel(ctx, cfg.QEMU, m.wantedAccel())
		if err != nil {
			return nil, err
		}
		accel = c.Accel
	}
	if qmpPath == "" {
		qmpPath = PrivateDirPlaceholder + "/qmp.sock"
	}
	return append([]string{cfg.QEMU}, Args(cfg, accel, qmpPath)...), nil
}

// Start launches QEMU and returns once QMP answers. The steps run in order;
// on failure (or a panic) every cleanup pushed so far runs, last first, and
// no process is left behind.
func (m *Machine) Start(ctx context.Context) error {
	return runStart(ctx, m.Shutdown, []startStep{
		{"resolve accelerator", m.resolveAccel},
		{"make private directory", m.makeDir},
		{"prepare network", m.prepareNetwork},
		{"exec qemu", m.exec},
		{"connect QMP", m.connectQMP},
		{"attach tap", m.attachTap},
	})
}

// startStep is one named step of a guest's Start.
type startStep struct {
	name string
	fn   func(context.Context) error
}

// runStart runs a Start's steps in order, each named in its error; it
// stops before a step when ctx has ended. On failure (or a panic) it
// calls shutdown, which runs every cleanup pushed so far, last first;
// with ctx, so an interrupted start does not wait on what went away (a
// libvirt daemon, a guest's graceful exit).
func runStart(ctx context.Context, shutdown func(context.Context) error, steps []startStep) (err error) {
	defer func() {
		if r := recover(); r != nil {
			shutdown(ctx)
			panic(r)
		}
		if err != nil {
			shutdown(ctx)
		}
	}()
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("vm: %s: %w", s.name, context.Cause(ctx))
		}
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("vm: %s: %w", s.name, err)
		}
	}
	return nil
}

// OnShutdown adds a cleanup that Shutdown runs (and a failed Start, which
// shuts down): cleanups run last added first, after QEMU has exited, so one
// added before Start runs after every cleanup of Start's own (a private
// disk the guest had open is removed once QEMU is gone). Its error is
// Shutdown's as the others'.
func (m *Machine) OnShutdown(name string, fn func() error) { m.push(name, fn) }

func (m *Machine) push(name string, fn func() error) {
	m.mu.Lock()
	m.cleanups = append(m.cleanups, cleanup{name, fn})
	m.mu.Unlock()
}

func (m *Machine) resolveAccel(ctx context.Context) error {
	c, err := ResolveAccel(ctx, m.cfg.QEMU, m.wantedAccel())
	m.locked(func() { m.accel = c })
	return err
}

// wantedAccel is the config's accelerator, as given: the machine reads no
// environment (see EnvAccel). cfg.Accel is fixed by New.
func (m *Machine) wantedAccel() AccelRequest {
	return AccelRequest{Accel: m.cfg.Accel, Source: "vm.accel"}
}

func (m *Machine) makeDir(context.Context) error {
	d, err := privdir.Make("vm")
	if err != nil {
		return err
	}
	m.locked(func() { m.dir, m.qmp = d.Path, filepath.Join(d.Path, "qmp.sock") })
	m.push("remove private directory", d.Remove)
	return nil
}

// prepareNetwork chooses the forwards' host ports or the tap's name on a
// copy and publishes it under mu.
func (m *Machine) prepareNetwork(context.Context) error {
	var net Network
	m.locked(func() { net = m.cfg.Net })
	net.Forwards = append([]Forward(nil), net.Forwards...)
	defer m.locked(func() { m.cfg.Net = net })
	switch m.cfg.Network {
	case NetUser:
		if err := pickHostPorts(net.Forwards); err != nil {
			return err
		}
	case NetTap:
		if err := checkBridge(m.cfg.Bridge); err != nil {
			return err
		}
		if net.Tap == "" {
			net.Tap = tapName()
		}
		// QEMU creates the tap device and it disappears with QEMU; this
		// cleanup only covers a QEMU that was SIGKILLed mid-creation.
		tap := net.Tap
		m.push("remove tap", func() error { return removeTap(tap) })
	}
	return nil
}

// pickHostPorts gives each forward without a host port a free one on
// 127.0.0.1, and checks those given.
func pickHostPorts(fw []Forward) error {
	for i := range fw {
		if f := fw[i]; f.HostPort != 0 {
			if err := portFree(f.Proto, f.HostPort); err != nil {
				return fmt.Errorf("%w: forwards[%d]: 127.0.0.1:%d/%s: %v", ErrPortTaken, i, f.HostPort, f.Proto, err)
			}
			continue
		}
		p, err := freePort() // free for both protocols
		if err != nil {
			return err
		}
		// A guest port forwarded for both protocols gets one host port,
		// as a DNS server has one address for UDP and TCP.
		for _, g := range fw[:i] {
			if g.GuestPort == fw[i].GuestPort && g.Proto != fw[i].Proto {
				p = g.HostPort
			}
		}
		fw[i].HostPort = p
	}
	return nil
}

func (m *Machine) exec(ctx context.Context) error {
	if _, err := exec.LookPath(m.cfg.QEMU); err != nil {
		return noQEMU(err)
	}
	log, err := os.OpenFile(m.cfg.ConsoleLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("console log: %w", err)
	}
	var args []string
	m.locked(func() { args = Args(m.cfg, m.accel.Accel, m.qmp) })
	cmd := exec.Command(m.cfg.QEMU, args...)
	cmd.Stdin = nil
	cmd.Stderr = m.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Ctrl-C reaches ukbench, which shuts QEMU down in order
		Pdeathsig: syscall.SIGKILL, // and if ukbench itself is killed, QEMU dies too
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Close()
		return err
	}
	if err := StartPinned(cmd, m.cfg.HostCPUs); err != nil {
		log.Close()
		return err
	}
	m.mu.Lock()
	m.cmd = cmd
	m.started = time.Now()
	m.mu.Unlock()
	// Cleanups run last first: QEMU is killed before its log is closed.
	m.push("close console log", log.Close)
	m.push("kill qemu", m.kill)
	go func() {
		m.con.copy(out, log)
		m.waitErr = cmd.Wait()
		close(m.exited)
	}()
	// QEMU stops a guest that KVM gave up on and waits for ever: end it,
	// so that a boot fails now, saying why, not at its timeout.
	go func() {
		select {
		case <-m.stderr.Rang():
			m.kill()
		case <-m.exited:
		}
	}()
	return nil
}

func (m *Machine) connectQMP(ctx context.Context) error {
	deadline := time.Now().Add(qmpReadyTimeout)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	var sock string
	m.locked(func() { sock = m.qmp })
	for {
		if _, err := os.Stat(sock); err == nil {
			mon, err := m.dial(sock, time.Second)
			if err == nil {
				err = connectWithin(mon, time.Second)
				if err == nil {
					m.mu.Lock()
					m.mon = mon
					m.mu.Unlock()
					m.push("disconnect QMP", mon.Disconnect)
					if _, err := m.Status(); err != nil {
						return err
					}
					ready := time.Since(m.startTime())
					m.locked(func() { m.qmpReady = ready })
					return nil
				}
			}
		}
		select {
		case <-m.exited:
			return m.exitError()
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-poll.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v", ErrQMPTimeout, qmpReadyTimeout)
		}
	}
}

func (m *Machine) attachTap(context.Context) error {
	if m.cfg.Network != NetTap {
		return nil
	}
	return attachTap(m.Tap(), m.cfg.Bridge)
}

// Status asks QMP for the run state ("running", "paused", …).
func (m *Machine) Status() (string, error) {
	m.mu.Lock()
	mon := m.mon
	m.mu.Unlock()
	return queryStatus(mon)
}

// queryStatus asks mon (nil: not connected) for the guest's run state.
func queryStatus(mon qmp.Monitor) (string, error) {
	if mon == nil {
		return "", fmt.Errorf("QMP not connected")
	}
	out, err := runQMP(mon, []byte(`{"execute":"query-status"}`), qmpCommandTimeout)
	if err != nil {
		return "", fmt.Errorf("query-status: %w", err)
	}
	return parseStatus(out)
}

// Memory returns QEMU's resident set and its peak, in KiB.
func (m *Machine) Memory() (rssKiB, hwmKiB int64, err error) {
	pid := m.PID()
	if pid == 0 {
		return 0, 0, fmt.Errorf("QEMU not started")
	}
	return ProcessMemory(pid)
}

// Shutdown stops QEMU: QMP system_powerdown first when the config asks
// for it, then quit, then SIGKILL if it has not exited in time (or ctx
// ends first). Then
// it runs every cleanup, last pushed first. It returns the first cleanup
// error; the VM is gone whatever it returns.
func (m *Machine) Shutdown(ctx context.Context) error {
	m.stopOnce.Do(func() { m.stopErr = m.shutdown(ctx) })
	return m.stopErr
}

func (m *Machine) shutdown(ctx context.Context) error {
	m.mu.Lock()
	mon, cmd := m.mon, m.cmd
	m.mu.Unlock()
	if cmd != nil && mon != nil {
		select {
		case <-m.exited:
		default:
			// quit ends QEMU at once; the guest's disk is a snapshot, so
			// nothing is lost by not powering it down.
			// Commands are not waited for: a hung QEMU may never answer;
			// the exit is what counts.
			if m.cfg.Powerdown {
				go mon.Run([]byte(`{"execute":"system_powerdown"}`))
				m.waitExit(ctx, powerdownTimeout)
			}
			select {
			case <-m.exited:
			default:
				go mon.Run([]byte(`{"execute":"quit"}`))
				m.waitExit(ctx, quitTimeout)
			}
		}
	}
	var errs []error
	m.mu.Lock()
	cl := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(cl) - 1; i >= 0; i-- {
		if err := cl[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("vm cleanup %s: %w", cl[i].name, err))
		}
	}
	return errors.Join(errs...) // every cleanup runs; none of their errors is dropped
}

// waitExit waits for QEMU's exit, at most d or until ctx ends.
func (m *Machine) waitExit(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.exited:
	case <-t.C:
	case <-ctx.Done():
	}
}

// kill SIGKILLs QEMU's process group if it is still running and reaps it.
func (m *Machine) kill() error {
	select {
	case <-m.exited:
		return nil
	default:
	}
	pid := m.PID()
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	<-m.exited
	return nil
}

// Wait waits for QEMU to exit and returns how it exited, or ctx's error.
func (m *Machine) Wait(ctx context.Context) error {
	select {
	case <-m.exited:
		return m.exitError()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// exitError describes QEMU's exit; only meaningful once exited is closed.
func (m *Machine) exitError() error {
	select {
	case <-m.stderr.Rang():
		return fmt.Errorf("%w: %s: KVM cannot run this guest (ukbench ended QEMU, which had stopped it)", ErrExited, qemuInternalError(m.stderr.String()))
	default:
	}
	msg := strings.TrimSpace(m.stderr.String())
	if m.waitErr != nil {
		msg = m.waitErr.Error() + ": " + msg
	}
	return fmt.Errorf("%w: %s", ErrExited, strings.TrimSuffix(msg, ": "))
}

// ConsoleTail returns the last console lines.
func (m *Machine) ConsoleTail() []string { return m.con.lastLines() }

func (m *Machine) consoleTail() string {
	lines := m.con.lastLines()
	if len(lines) == 0 {
		return " (console empty)"
	}
	return "; last console lines:\n  " + strings.Join(lines, "\n  ")
}

func (m *Machine) exitedChan() <-chan struct{} { return m.exited }
