package vm

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// ErrNoKVM is returned when KVM was asked for and cannot run guests here;
// the message says why (the probe's reason).
var ErrNoKVM = errors.New("KVM not available")

// TCGSlowdown is how much slower guests run under TCG than under KVM, as
// every TCG label says it.
const TCGSlowdown = "10–30× slower"

// EnvAccel names the environment variable that overrides a config's
// accelerator (auto, kvm or tcg) when no --accel flag is given: for tests
// and CI. The vm package itself reads no environment: WantedAccel is where
// the flag, the variable and the config meet, and callers above vm (the
// CLI, experiment, targets) call it.
const EnvAccel = "UKBENCH_ACCEL"

// AccelRequest is the accelerator asked for, and who asked.
type AccelRequest struct {
	Accel  string // auto, kvm or tcg
	Source string // "--accel", "$UKBENCH_ACCEL", "vm.accel" or "default"
}

// WantedAccel is the accelerator asked for: the flag when given, else
// $UKBENCH_ACCEL when set, else the config's, else auto.
func WantedAccel(flag, config string) AccelRequest {
	switch {
	case flag != "":
		return AccelRequest{flag, "--accel"}
	case os.Getenv(EnvAccel) != "":
		return AccelRequest{os.Getenv(EnvAccel), "$" + EnvAccel}
	case config != "":
		return AccelRequest{config, "vm.accel"}
	}
	return AccelRequest{AccelAuto, "default"}
}

// Validate says whether r asks for an accelerator that exists, naming its
// source when not (ErrInvalidConfig and a *fielderr.Error).
func (r AccelRequest) Validate() error {
	if err := validAccel(r.Source, r.Accel); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// validAccel is the one check of an accelerator's name, reported as field's.
func validAccel(field, accel string) error {
	switch accel {
	case AccelAuto, AccelKVM, AccelTCG:
		return nil
	}
	return fielderr.Errorf(field, "%q: want auto, kvm or tcg", accel)
}

// AccelChoice is the accelerator a campaign or a machine runs under, and
// why: what the manifest and the run records keep.
type AccelChoice struct {
	Accel    string `json:"accel"`     // kvm or tcg
	Wanted   string `json:"wanted"`    // auto, kvm or tcg, as asked
	WantedBy string `json:"wanted_by"` // who asked: AccelRequest.Source
	Reason   string `json:"reason"`
	// Probe is the KVM probe's verdict, when one was needed (auto or kvm).
	Probe *KVMProbe `json:"probe,omitempty"`
}

// Notice is the one line to tell a user when auto fell back to TCG, "" when
// there is nothing to tell.
func (c AccelChoice) Notice() string {
	if c.Wanted != AccelAuto || c.Accel != AccelTCG {
		return ""
	}
	return c.Reason + "; using TCG, " + TCGSlowdown
}

// ResolveAccel turns the request into kvm or tcg for guests run with qemu.
// auto means KVM only when ProbeKVM has seen it run a guest, else TCG; kvm
// fails with ErrNoKVM and the probe's reason when KVM cannot run guests;
// tcg needs no probe. Without QEMU, auto and kvm fail with ErrNoQEMU (kvm
// with ErrNoKVM too). It returns ctx's error when ctx ends during a probe.
func ResolveAccel(ctx context.Context, qemu string, r AccelRequest) (AccelChoice, error) {
	if qemu == "" {
		qemu = Config{}.WithDefaults().QEMU
	}
	return resolveWith(ctx, r, func(ctx context.Context) (KVMProbe, error) { return ProbeKVM(ctx, qemu) })
}

// resolveWith is the one choice of an accelerator, whoever probes KVM
// (this host's QEMU, or a libvirt host): r validated, tcg without a
// probe, auto KVM when the probe found it usable and TCG otherwise, kvm
// KVM or ErrNoKVM with the probe's reason.
func resolveWith(ctx context.Context, r AccelRequest, probe func(context.Context) (KVMProbe, error)) (AccelChoice, error) {
	if r.Accel == "" {
		r.Accel = AccelAuto
	}
	c := AccelChoice{Wanted: r.Accel, WantedBy: r.Source}
	if err := r.Validate(); err != nil {
		return c, err
	}
	if r.Accel == AccelTCG {
		c.Accel, c.Reason = AccelTCG, "tcg asked for by "+r.Source
		return c, nil
	}
	p, err := probe(ctx)
	if err != nil {
		if r.Accel == AccelKVM && ctx.Err() == nil {
			return c, fmt.Errorf("%w: %w", ErrNoKVM, err)
		}
		return c, err
	}
	c.Probe, c.Reason = &p, p.Reason
	switch {
	case p.Usable:
		c.Accel = AccelKVM
	case r.Accel == AccelKVM:
		return c, fmt.Errorf("%w: %s", ErrNoKVM, p.Reason)
	default:
		c.Accel = AccelTCG
	}
	return c, nil
}
