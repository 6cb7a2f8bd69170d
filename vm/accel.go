package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrNoKVM is returned when KVM was asked for and cannot run guests here;
// the message says why (the probe's reason).
var ErrNoKVM = errors.New("KVM not available")

// TCGSlowdown is how much slower guests run under TCG than under KVM, as
// every TCG label says it.
const TCGSlowdown = "10–30× slower"

// EnvAccel names the environment variable that overrides an experiment's or
// a target's accelerator (auto, kvm or tcg) when no --accel flag is given:
// for tests and CI.
const EnvAccel = "UKBENCH_ACCEL"

// WantedAccel is the accelerator asked for: the flag when given, else
// $UKBENCH_ACCEL when set, else the config's, else auto.
func WantedAccel(flag, config string) string {
	for _, a := range []string{flag, os.Getenv(EnvAccel), config} {
		if a != "" {
			return a
		}
	}
	return AccelAuto
}

// AccelChoice is the accelerator a campaign or a machine runs under, and
// why: what the manifest and the run records keep.
type AccelChoice struct {
	Accel  string `json:"accel"`  // kvm or tcg
	Wanted string `json:"wanted"` // auto, kvm or tcg, as asked
	Reason string `json:"reason"`
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

// ResolveAccel turns want (auto, kvm or tcg; "" is auto) into kvm or tcg
// for guests run with qemu. auto means KVM only when ProbeKVM has seen it run
// a guest, else TCG; kvm fails with ErrNoKVM and the probe's reason when KVM
// cannot run guests; tcg needs no probe. It returns ctx's error when ctx
// ends during a probe.
func ResolveAccel(ctx context.Context, qemu, want string) (AccelChoice, error) {
	if want == "" {
		want = AccelAuto
	}
	if qemu == "" {
		qemu = Config{}.WithDefaults().QEMU
	}
	c := AccelChoice{Wanted: want}
	switch want {
	case AccelTCG:
		c.Accel, c.Reason = AccelTCG, "tcg asked for"
		return c, nil
	case AccelAuto, AccelKVM:
	default:
		return c, fmt.Errorf("%w: accel %q: want auto, kvm or tcg", ErrInvalidConfig, want)
	}
	p, err := ProbeKVM(ctx, qemu)
	if err != nil {
		if ctx.Err() != nil {
			return c, err
		}
		if want == AccelKVM {
			return c, fmt.Errorf("%w: %w", ErrNoKVM, err)
		}
		// No QEMU: the machine's own start says so, by name.
		c.Accel, c.Reason = AccelTCG, err.Error()
		return c, nil
	}
	c.Probe, c.Reason = &p, p.Reason
	switch {
	case p.Usable:
		c.Accel = AccelKVM
	case want == AccelKVM:
		return c, fmt.Errorf("%w: %s", ErrNoKVM, p.Reason)
	default:
		c.Accel = AccelTCG
	}
	return c, nil
}
