package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-qemu/qmp"
)

// Timeouts of a libvirt guest's life; variables so tests can shorten them.
var (
	// libvirtReconnectTimeout is how long Shutdown keeps trying to reach
	// a daemon that went away, to destroy the guest it runs.
	libvirtReconnectTimeout = 60 * time.Second
	libvirtReconnectPoll    = 200 * time.Millisecond
	// consoleOpenTimeout bounds the wait for the daemon to open the
	// console before the guest is resumed.
	consoleOpenTimeout = 60 * time.Second
	// consoleDrainTimeout bounds the wait for the console stream's end
	// after the domain is destroyed.
	consoleDrainTimeout = 5 * time.Second
	// domainStatePoll is how often a guest whose console stream ended
	// while it still runs is checked.
	domainStatePoll = 500 * time.Millisecond
	// consoleLostGrace is how long a guest whose console stream failed
	// may still be seen running before the console, not QEMU's exit, is
	// taken for the cause (the stream ends a moment before the daemon
	// has noted QEMU's exit).
	consoleLostGrace = 2 * time.Second
)

// Defaults of a libvirt guest's domain name.
const (
	defaultCampaign = "boot"
	defaultRunID    = "guest"
)

// LibvirtMachine is one guest that a libvirt daemon runs, here or on
// another host, as a transient domain (DomainCreateXML with autodestroy:
// the daemon destroys it when ukbench's connection closes, so a guest
// does not outlive a ukbench that was killed while the daemon runs on;
// if the daemon itself dies, its QEMU runs on until Shutdown reconnects
// and destroys it, or, when that fails, until the campaign's next start
// reaps it as a leftover, see reapLeftovers): the same
// guest and the same lifecycle as Machine's (named steps, LIFO cleanups,
// console log and readiness, QMP through the Dialer seam, here go-qemu's
// libvirt RPC monitor). Safe for concurrent use.
type LibvirtMachine struct {
	dial   Dialer
	uri    LibvirtURI
	con    *console
	exited chan struct{}

	mu       sync.Mutex
	cfg      Config
	accel    AccelChoice
	name     string
	files    guestFiles
	api      libvirtAPI
	dom      libvirt.Domain
	created  bool
	stopping bool
	mon      qmp.Monitor
	// createdAt is when DomainCreateXML was called (the domain starts
	// paused), resumedAt when DomainResume returned: the guest runs from
	// then, and its figures count from it.
	createdAt time.Time
	resumedAt time.Time
	qmpReady  time.Duration
	// lostGrace is consoleLostGrace when the machine was made.
	lostGrace time.Duration
	cleanups  []cleanup

	exitOnce sync.Once
	exitErr  error // written inside exitOnce, before exited is closed
	stopOnce sync.Once
	stopErr  error
}

// domainSeq numbers this process's domains.
var domainSeq atomic.Int64

// nameRE is what a domain name part keeps.
var nameRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// NewLibvirt validates cfg (backend libvirt) and returns a guest ready to
// Start. dial may be nil for go-qemu's libvirt RPC monitor over a second
// connection to the daemon; its path argument is the domain's name.
func NewLibvirt(cfg Config, dial Dialer) (*LibvirtMachine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if cfg.Backend != BackendLibvirt {
		return nil, fmt.Errorf("%w: backend %q: NewLibvirt is for backend libvirt", ErrInvalidConfig, cfg.Backend)
	}
	u, err := ParseLibvirtURI(cfg.URI)
	if err != nil {
		return nil, fmt.Errorf("%w: uri: %w", ErrInvalidConfig, err)
	}
	if cfg.Disk != "" && cfg.DiskFormat == "" {
		// QEMU probes a snapshot's format; libvirt refuses to.
		return nil, fmt.Errorf("%w: disk_format: required with backend libvirt (raw or qcow2)", ErrInvalidConfig)
	}
	if dial == nil {
		dial = libvirtMonitorDialer(u)
	}
	if !u.Local() {
		// The CPUs ukbench places targets on are this host's; another
		// host's are its own business.
		cfg.HostCPUs = nil
	}
	cfg.Net.Forwards = append([]Forward(nil), cfg.Net.Forwards...)
	campaign, run := cfg.Campaign, cfg.RunID
	if campaign == "" {
		campaign = defaultCampaign
	}
	if run == "" {
		run = defaultRunID
	}
	cfg.Campaign = nameRE.ReplaceAllString(campaign, "_")
	name := fmt.Sprintf("%s%s-%d-%d", domainPrefix(cfg.Campaign), nameRE.ReplaceAllString(run, "_"), os.Getpid(), domainSeq.Add(1))
	m := &LibvirtMachine{cfg: cfg, dial: dial, uri: u, con: newConsole(), exited: make(chan struct{}), name: name, lostGrace: consoleLostGrace}
	m.files = guestFiles{Kernel: cfg.Kernel, Initrd: cfg.Initrd, Disk: cfg.Disk} // until uploaded
	return m, nil
}

// domainPrefix starts the names of a campaign's domains.
func domainPrefix(campaign string) string { return "ukbench-" + campaign + "-" }

// libvirtMonitorDialer connects go-qemu's libvirt RPC monitor for a
// domain over its own connection to the daemon at u.
func libvirtMonitorDialer(u LibvirtURI) Dialer {
	return func(domain string, _ time.Duration) (qmp.Monitor, error) {
		d, err := u.dialer()
		if err != nil {
			return nil, err
		}
		conn, err := d.Dial()
		if err != nil {
			return nil, fmt.Errorf("%w: QMP connection to %s: %w", ErrLibvirt, u.Redacted(), err)
		}
		return qmp.NewLibvirtRPCMonitor(domain, conn), nil
	}
}

func (m *LibvirtMachine) locked(fn func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn()
}

// Name is the domain's name.
func (m *LibvirtMachine) Name() string { return m.name }

// WatchConsole registers a console line to wait for; call it before Start.
func (m *LibvirtMachine) WatchConsole(substr string) *Marker {
	return &Marker{m: m, w: m.con.watch(substr)}
}

func (m *LibvirtMachine) startTime() (t time.Time) {
	m.locked(func() { t = m.resumedAt })
	return t
}
func (m *LibvirtMachine) exitedChan() <-chan struct{} { return m.exited }
func (m *LibvirtMachine) consoleTail() string {
	lines := m.con.lastLines()
	if len(lines) == 0 {
		return " (console empty)"
	}
	return "; last console lines:\n  " + strings.Join(lines, "\n  ")
}

// StartedAt is when the guest was resumed: the domain is created paused
// (so that no console line is lost while the console stream opens) and
// the guest's boot figures (console ready, first answer) count from its
// resume, as the direct launcher's count from QEMU's exec, when its guest
// starts to run. What comes before, libvirt's domain start and ukbench's
// console and QMP setup while the guest is frozen, counts in the time to
// StartedAt (a run's launch_ms), not in the guest's boot.
func (m *LibvirtMachine) StartedAt() time.Time { return m.startTime() }

// CreatedAt is when DomainCreateXML was called (zero before).
func (m *LibvirtMachine) CreatedAt() (t time.Time) {
	m.locked(func() { t = m.createdAt })
	return t
}

// QMPReady is the time from DomainCreateXML to QMP answering (libvirt's
// domain start, QEMU's included), within the paused setup.
func (m *LibvirtMachine) QMPReady() (d time.Duration) {
	m.locked(func() { d = m.qmpReady })
	return d
}

func (m *LibvirtMachine) Accel() string { return m.AccelChoice().Accel }

func (m *LibvirtMachine) AccelChoice() (c AccelChoice) {
	m.locked(func() { c = m.accel })
	return c
}

func (m *LibvirtMachine) Forwards() (f []Forward) {
	m.locked(func() { f = append([]Forward(nil), m.cfg.Net.Forwards...) })
	return f
}

// PID is 0: QEMU is the libvirt daemon's child, not ukbench's.
func (m *LibvirtMachine) PID() int { return 0 }

func (m *LibvirtMachine) Exited() <-chan struct{} { return m.exited }

func (m *LibvirtMachine) ConsoleTail() []string { return m.con.lastLines() }

func (m *LibvirtMachine) Wait(ctx context.Context) error {
	select {
	case <-m.exited:
		return m.exitError()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (m *LibvirtMachine) exitError() error { return m.exitErr }

// markExited records why the guest is gone (the first reason wins) and
// closes exited.
func (m *LibvirtMachine) markExited(err error) {
	m.exitOnce.Do(func() {
		m.exitErr = err
		close(m.exited)
	})
}

// DomainXML is the domain Start creates (accelerator and ports as chosen;
// before Start the files' local paths stand for their uploaded copies).
func (m *LibvirtMachine) DomainXML() []byte {
	var cfg Config
	var accel string
	var files guestFiles
	m.locked(func() { cfg, accel, files = m.cfg, m.accel.Accel, m.files })
	if accel == "" {
		accel = cfg.Accel
	}
	return DomainXML(cfg, accel, m.name, files, thisOwner(cfg.Campaign, time.Time{}))
}

// CommandLine is the domain XML, one line each, after the daemon's URI:
// what --dry-run shows and the run record keeps. auto is resolved on the
// libvirt host (which may probe its KVM, within ctx).
func (m *LibvirtMachine) CommandLine(ctx context.Context) ([]string, error) {
	if m.Accel() == "" && m.cfg.Accel == AccelAuto {
		c, err := resolveLibvirtAccel(ctx, m.cfg.Shape, AccelRequest{Accel: m.cfg.Accel, Source: "vm.accel"})
		if err != nil {
			return nil, err
		}
		m.locked(func() { m.accel = c })
	}
	lines := []string{"libvirt " + m.uri.Redacted() + " DomainCreateXML:"}
	return append(lines, strings.Split(strings.TrimSpace(string(m.DomainXML())), "\n")...), nil
}

// Start creates the domain and returns once QMP answers and the guest
// runs. The steps run in order; on failure (or a panic) every cleanup
// pushed so far runs, last first, and the domain is destroyed.
func (m *LibvirtMachine) Start(ctx context.Context) error {
	return runStart(ctx, m.Shutdown, []startStep{
		{"connect to libvirt", m.connect},
		{"destroy dead runs' leftovers", m.reap},
		{"resolve accelerator", m.resolveAccel},
		{"upload files", m.upload},
		{"prepare network", m.prepareNetwork},
		{"create domain", m.create},
		{"open console", m.openConsole},
		{"connect QMP", m.connectQMP},
		{"resume guest", m.resume},
	})
}

func (m *LibvirtMachine) OnShutdown(name string, fn func() error) { m.push(name, fn) }

func (m *LibvirtMachine) push(name string, fn func() error) {
	m.locked(func() { m.cleanups = append(m.cleanups, cleanup{name, fn}) })
}

func (m *LibvirtMachine) conn() (api libvirtAPI) {
	m.locked(func() { api = m.api })
	return api
}

func (m *LibvirtMachine) connect(context.Context) error {
	api, err := connectLibvirt(m.uri)
	if err != nil {
		return err
	}
	m.locked(func() { m.api = api })
	m.push("disconnect libvirt", func() error { return m.conn().Disconnect() })
	return nil
}

func (m *LibvirtMachine) reap(context.Context) error {
	_, err := reapLeftovers(m.conn(), m.cfg.Campaign)
	return err
}

func (m *LibvirtMachine) resolveAccel(ctx context.Context) error {
	var c AccelChoice
	var err error
	switch m.cfg.Accel {
	case AccelTCG:
		c = AccelChoice{Accel: AccelTCG, Wanted: AccelTCG, WantedBy: "vm.accel", Reason: "tcg asked for by vm.accel"}
	case AccelKVM:
		c = AccelChoice{Accel: AccelKVM, Wanted: AccelKVM, WantedBy: "vm.accel", Reason: "kvm asked for by vm.accel"}
	default:
		c, err = libvirtAccelOn(ctx, m.conn(), m.cfg.Shape, AccelRequest{Accel: m.cfg.Accel, Source: "vm.accel"})
	}
	m.locked(func() { m.accel = c })
	return err
}

func (m *LibvirtMachine) upload(context.Context) error {
	api := m.conn()
	pool, err := ukbenchPool(api)
	if err != nil {
		return err
	}
	var files guestFiles
	for _, f := range []struct {
		local string
		dst   *string
	}{{m.cfg.Kernel, &files.Kernel}, {m.cfg.Initrd, &files.Initrd}, {m.cfg.Disk, &files.Disk}} {
		if f.local == "" {
			continue
		}
		if *f.dst, err = uploadFile(api, pool, f.local); err != nil {
			return err
		}
	}
	m.locked(func() { m.files = files })
	// Not pruned while this guest may boot them.
	release := useVolumes(files.Kernel, files.Initrd, files.Disk)
	m.push("release volumes", func() error { release(); return nil })
	return nil
}

// prepareNetwork chooses the forwards' host ports: free here, which is
// the libvirt host (Validate allows user networking only there).
func (m *LibvirtMachine) prepareNetwork(context.Context) error {
	if m.cfg.Network != NetUser {
		return nil
	}
	var fw []Forward
	m.locked(func() { fw = append([]Forward(nil), m.cfg.Net.Forwards...) })
	if err := pickHostPorts(fw); err != nil {
		return err
	}
	m.locked(func() { m.cfg.Net.Forwards = fw })
	return nil
}

func (m *LibvirtMachine) create(context.Context) error {
	api := m.conn()
	start := time.Now()
	var cfg Config
	var accel string
	var files guestFiles
	m.locked(func() { cfg, accel, files, m.createdAt = m.cfg, m.accel.Accel, m.files, start })
	x := DomainXML(cfg, accel, m.name, files, thisOwner(cfg.Campaign, start))
	// Paused until the console is open, so no line is lost; destroyed by
	// the daemon if ukbench's connection closes (ukbench killed).
	dom, err := api.DomainCreateXML(string(x), libvirt.DomainStartPaused|libvirt.DomainStartAutodestroy)
	if err != nil {
		return fmt.Errorf("%w: DomainCreateXML %s: %w", ErrLibvirt, m.name, err)
	}
	liveDomains.Store(m.name, true)
	m.locked(func() { m.dom, m.created = dom, true })
	// Shutdown destroys the domain itself, within its ctx; this entry
	// only marks the place in the LIFO order.
	m.push("destroy domain", func() error { return nil })
	go m.watchConnection(api)
	return nil
}

// watchConnection marks the guest gone when the daemon's connection
// drops while it runs.
func (m *LibvirtMachine) watchConnection(api libvirtAPI) {
	select {
	case <-api.Disconnected():
	case <-m.exited:
		return
	}
	var stopping bool
	m.locked(func() { stopping = m.stopping })
	if !stopping {
		m.markExited(fmt.Errorf("%w: %s: domain %s may still run there until the daemon is back (Shutdown destroys it then)", ErrLibvirtLost, m.uri.Redacted(), m.name))
	}
}

func (m *LibvirtMachine) openConsole(ctx context.Context) error {
	log, err := os.OpenFile(m.cfg.ConsoleLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("console log: %w", err)
	}
	api := m.conn()
	var dom libvirt.Domain
	done := make(chan struct{})
	m.locked(func() { dom = m.dom })
	pr, pw := io.Pipe()
	keys := newConsoleKeys()
	streamErr := make(chan error, 1)
	ended := make(chan struct{}) // the call returned: the stream is over or never opened
	go func() {
		err := api.DomainOpenConsoleBidirectional(dom, nil, keys, pw, 0)
		keys.close()
		streamErr <- err
		pw.CloseWithError(err)
		close(ended)
	}()
	go func() {
		m.con.copy(pr, log)
		pr.Close()
		m.domainGone(api, dom, <-streamErr)
		close(done)
	}()
	// The console's copy (and the look at why it ended) is over before
	// the log is closed; Shutdown has marked the guest exited by then, so
	// it does not wait on a guest that still runs.
	m.push("close console log", func() error {
		pr.Close()
		select {
		case <-done:
		case <-time.After(consoleDrainTimeout):
		}
		return log.Close()
	})
	// The guest is resumed only once the daemon holds the console: QEMU
	// drops what the guest writes to a pty nobody holds, and a fast guest
	// (the KVM probe's) would print its marker into the void. The daemon
	// has opened it when it answers the call, and go-libvirt reads the
	// keys to send only after that answer.
	timer := time.NewTimer(consoleOpenTimeout)
	defer timer.Stop()
	select {
	case <-keys.attached:
		return nil
	case <-ended:
		return nil // why it ended is domainGone's to say
	case <-timer.C:
		return fmt.Errorf("%w: console of domain %s: not open after %v", ErrLibvirt, m.name, consoleOpenTimeout)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// consoleKeys is the console stream's input (nothing is typed at the
// guest): its first Read says the daemon has opened the console; it ends
// when the stream does.
type consoleKeys struct {
	attached chan struct{} // closed at the first Read
	once     sync.Once
	closed   chan struct{}
	stop     sync.Once
}

func newConsoleKeys() *consoleKeys {
	return &consoleKeys{attached: make(chan struct{}), closed: make(chan struct{})}
}

// Read blocks until close, then reports the end of the input.
func (k *consoleKeys) Read([]byte) (int, error) {
	k.once.Do(func() { close(k.attached) })
	<-k.closed
	return 0, io.EOF
}

func (k *consoleKeys) close() { k.stop.Do(func() { close(k.closed) }) }

// domainGone runs when the console stream has ended: it finds out why
// and marks the guest exited: QEMU gone, or a console that failed while
// the guest runs (readiness and the log need it; Shutdown destroys the
// guest), or, when the stream ended cleanly on a running guest, once it
// no longer runs.
func (m *LibvirtMachine) domainGone(api libvirtAPI, dom libvirt.Domain, streamErr error) {
	grace := time.Now().Add(m.lostGrace)
	for {
		select {
		case <-api.Disconnected():
			return // watchConnection says why
		default:
		}
		state, reason, err := api.DomainGetState(dom, 0)
		switch {
		case isLibvirtError(err, libvirt.ErrNoDomain):
			m.markExited(fmt.Errorf("%w: domain %s is gone (transient domains vanish when QEMU exits)", ErrExited, m.name))
			return
		case err == nil && libvirt.DomainState(state) != libvirt.DomainRunning && libvirt.DomainState(state) != libvirt.DomainPaused:
			m.markExited(fmt.Errorf("%w: domain %s state %d reason %d", ErrExited, m.name, state, reason))
			return
		case err == nil && streamErr != nil && time.Now().After(grace):
			m.markExited(fmt.Errorf("%w: console of domain %s: %w", ErrLibvirt, m.name, streamErr))
			return
		}
		select {
		case <-m.exited:
			return
		case <-time.After(min(domainStatePoll, m.lostGrace)):
		}
	}
}

func (m *LibvirtMachine) connectQMP(ctx context.Context) error {
	mon, err := m.dial(m.name, libvirtDialTimeout)
	if err != nil {
		return err
	}
	if err := connectWithin(mon, libvirtDialTimeout); err != nil {
		return fmt.Errorf("%w: QMP monitor of %s: %w", ErrLibvirt, m.name, err)
	}
	m.locked(func() { m.mon = mon })
	m.push("disconnect QMP", mon.Disconnect)
	if _, err := m.Status(); err != nil {
		return err
	}
	ready := time.Since(m.CreatedAt())
	m.locked(func() { m.qmpReady = ready })
	return nil
}

func (m *LibvirtMachine) resume(context.Context) error {
	var dom libvirt.Domain
	m.locked(func() { dom = m.dom })
	// The guest may run from the moment the call is made (so no console
	// line comes before this instant; the figures include the resume's
	// round trip).
	now := time.Now()
	if err := m.conn().DomainResume(dom); err != nil {
		return fmt.Errorf("%w: DomainResume %s: %w", ErrLibvirt, m.name, err)
	}
	m.locked(func() { m.resumedAt = now })
	return nil
}

// Status asks QMP for the run state ("running", "paused", …).
func (m *LibvirtMachine) Status() (string, error) {
	var mon qmp.Monitor
	m.locked(func() { mon = m.mon })
	return queryStatus(mon)
}

// Memory is QEMU's resident set as libvirt reports it
// (DomainMemoryStats' rss); libvirt has no peak, so hwmKiB is 0.
func (m *LibvirtMachine) Memory() (rssKiB, hwmKiB int64, err error) {
	var dom libvirt.Domain
	var created bool
	m.locked(func() { dom, created = m.dom, m.created })
	if !created {
		return 0, 0, fmt.Errorf("domain not created")
	}
	stats, err := m.conn().DomainMemoryStats(dom, uint32(libvirt.DomainMemoryStatNr), 0)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: DomainMemoryStats %s: %w", ErrLibvirt, m.name, err)
	}
	for _, s := range stats {
		if s.Tag == int32(libvirt.DomainMemoryStatRss) {
			return int64(s.Val), 0, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: DomainMemoryStats %s: no rss", ErrLibvirt, m.name)
}

// Shutdown stops the guest: system_powerdown first when the config asks
// for it, then DomainDestroy (SIGTERM, then SIGKILL, by the daemon), then
// every cleanup, last pushed first. If the daemon went away it is
// reconnected to, for up to libvirtReconnectTimeout (or until ctx ends),
// to destroy the domain. It returns the cleanups' errors joined; safe to
// call more than once.
func (m *LibvirtMachine) Shutdown(ctx context.Context) error {
	m.stopOnce.Do(func() { m.stopErr = m.shutdown(ctx) })
	return m.stopErr
}

func (m *LibvirtMachine) shutdown(ctx context.Context) error {
	var mon qmp.Monitor
	var created bool
	m.locked(func() { mon, created, m.stopping = m.mon, m.created, true })
	if created && mon != nil && m.cfg.Powerdown {
		select {
		case <-m.exited:
		default:
			go mon.Run([]byte(`{"execute":"system_powerdown"}`))
			t := time.NewTimer(powerdownTimeout)
			select {
			case <-m.exited:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	var errs []error
	if created {
		if err := m.destroy(ctx); err != nil {
			errs = append(errs, fmt.Errorf("vm cleanup destroy domain: %w", err))
		}
		// No longer this process's, destroyed or not: a domain that
		// could not be destroyed is a leftover the next start reaps.
		liveDomains.Delete(m.name)
	}
	m.markExited(fmt.Errorf("%w: domain %s destroyed", ErrExited, m.name))
	m.mu.Lock()
	cl := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(cl) - 1; i >= 0; i-- {
		if err := cl[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("vm cleanup %s: %w", cl[i].name, err))
		}
	}
	return errors.Join(errs...)
}

// destroy destroys the domain, reconnecting first (within ctx) when the
// daemon's connection was lost. A domain already gone is no error.
// Idempotent.
func (m *LibvirtMachine) destroy(ctx context.Context) error {
	var dom libvirt.Domain
	var created bool
	m.locked(func() { dom, created = m.dom, m.created })
	if !created {
		return nil
	}
	api := m.conn()
	select {
	case <-api.Disconnected():
		var err error
		if api, err = m.reconnect(ctx); err != nil {
			return err
		}
	default:
	}
	err := api.DomainDestroyFlags(dom, libvirt.DomainDestroyDefault)
	if err != nil && !isLibvirtError(err, libvirt.ErrNoDomain) && !isLibvirtError(err, libvirt.ErrOperationInvalid) {
		return fmt.Errorf("%w: destroy %s: %w", ErrLibvirt, m.name, err)
	}
	liveDomains.Delete(m.name)
	m.locked(func() { m.created = false })
	return nil
}

// reconnect opens a new control connection to the daemon, waiting for
// it to be back for up to libvirtReconnectTimeout or until ctx ends
// (one attempt is made even then).
func (m *LibvirtMachine) reconnect(ctx context.Context) (libvirtAPI, error) {
	t := time.NewTimer(libvirtReconnectTimeout)
	defer t.Stop()
	tick := time.NewTicker(libvirtReconnectPoll) // polling a daemon that is down: nothing to wait on
	defer tick.Stop()
	for {
		api, err := connectLibvirt(m.uri)
		if err == nil {
			m.locked(func() { m.api = api })
			return api, nil
		}
		select {
		case <-tick.C:
		case <-t.C:
			return nil, fmt.Errorf("%w: %s not back within %v, so domain %s may still run there (the next start of campaign %s destroys it): %w",
				ErrLibvirtLost, m.uri.Redacted(), libvirtReconnectTimeout, m.name, m.cfg.Campaign, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s: gave up waiting for the daemon (%w), so domain %s may still run there (the next start of campaign %s destroys it): %w",
				ErrLibvirtLost, m.uri.Redacted(), context.Cause(ctx), m.name, m.cfg.Campaign, err)
		}
	}
}
