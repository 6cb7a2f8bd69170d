package vm

import (
	"context"
	"fmt"
	"time"
)

// Backends: who launches a guest's QEMU.
const (
	BackendDirect  = "direct"  // ukbench execs qemu-system-x86_64 itself (Machine)
	BackendLibvirt = "libvirt" // a libvirt daemon, here or remote, runs it (LibvirtMachine)
)

// Guest is one guest VM, whichever backend runs it: targets/, readiness,
// boot figures and cleanups see only this. Start it once; Shutdown it
// always (more than once, from any goroutine, and after a failed Start is
// safe). The guest's figures count from StartedAt: when it starts to run
// (QEMU's exec; under libvirt the paused domain's resume).
type Guest interface {
	// WatchConsole registers a console line to wait for; call it before
	// Start.
	WatchConsole(substr string) *Marker
	Start(ctx context.Context) error
	// OnShutdown adds a cleanup that runs, last added first, after QEMU
	// is gone.
	OnShutdown(name string, fn func() error)
	Shutdown(ctx context.Context) error
	// Exited is closed when QEMU has exited (or, under libvirt, when the
	// daemon that runs it can no longer be reached); Wait returns why.
	Exited() <-chan struct{}
	Wait(ctx context.Context) error
	StartedAt() time.Time
	QMPReady() time.Duration
	Accel() string
	AccelChoice() AccelChoice
	Forwards() []Forward
	Status() (string, error)
	// Memory is QEMU's resident set and its peak in KiB (the peak is 0
	// where the backend cannot see it).
	Memory() (rssKiB, hwmKiB int64, err error)
	// CommandLine is what Start runs: QEMU's argv, or for libvirt the
	// domain XML's lines.
	CommandLine(ctx context.Context) ([]string, error)
	ConsoleTail() []string
	// PID is QEMU's process ID when it runs on this host under ukbench
	// (0 under libvirt).
	PID() int
}

var (
	_ Guest = (*Machine)(nil)
	_ Guest = (*LibvirtMachine)(nil)
)

// NewGuest validates cfg and returns the guest of its backend, ready to
// Start. dial may be nil for the backend's own QMP connection.
func NewGuest(cfg Config, dial Dialer) (Guest, error) {
	switch cfg.WithDefaults().Backend {
	case BackendLibvirt:
		return NewLibvirt(cfg, dial)
	default:
		return New(cfg, dial)
	}
}

// ResolveShapeAccel is ResolveAccel for the host the shape's backend runs
// its guests on: this one for the direct launcher, the libvirt host (its
// KVM probed there, through libvirt) for the libvirt backend.
func ResolveShapeAccel(ctx context.Context, s Shape, r AccelRequest) (AccelChoice, error) {
	s = s.WithDefaults()
	if s.Backend == BackendLibvirt {
		return resolveLibvirtAccel(ctx, s, r)
	}
	return ResolveAccel(ctx, s.QEMU, r)
}

// markerSource is what a Marker needs from the guest it watches.
type markerSource interface {
	startTime() time.Time
	exitedChan() <-chan struct{}
	exitError() error
	consoleTail() string
}

// Marker is a console line a caller waits for.
type Marker struct {
	m markerSource
	w *consoleWaiter
}

// Wait waits for the marker's line and returns the time from QEMU's start
// to the moment the line was read. It fails if QEMU exits or ctx ends
// first, with the last console lines in the error.
func (k *Marker) Wait(ctx context.Context) (time.Duration, error) {
	select {
	case <-k.w.seen:
		return k.w.at.Sub(k.m.startTime()), nil
	case <-k.m.exitedChan():
		// The line may have been the last thing QEMU printed.
		select {
		case <-k.w.seen:
			return k.w.at.Sub(k.m.startTime()), nil
		default:
		}
		return 0, fmt.Errorf("waiting for %q on the console: %w%s", k.w.substr, k.m.exitError(), k.m.consoleTail())
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for %q on the console: %w%s", k.w.substr, context.Cause(ctx), k.m.consoleTail())
	}
}
