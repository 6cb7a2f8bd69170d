package vm

import (
	"errors"
	"fmt"
	"os"
)

// ErrNoKVM is returned when KVM was asked for and /dev/kvm is not usable.
var ErrNoKVM = errors.New("KVM not available")

// kvmDevice is the device KVM needs; a variable so tests can point it elsewhere.
var kvmDevice = "/dev/kvm"

// KVMUsable reports whether /dev/kvm can be opened for reading and writing,
// and if not, why.
func KVMUsable() (bool, error) {
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}

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

// ResolveAccel turns auto into kvm or tcg, and checks that kvm is usable
// when asked for.
func ResolveAccel(want string) (string, error) {
	ok, why := KVMUsable()
	switch want {
	case "", AccelAuto:
		if ok {
			return AccelKVM, nil
		}
		return AccelTCG, nil
	case AccelKVM:
		if !ok {
			return "", fmt.Errorf("%w: %v", ErrNoKVM, why)
		}
		return AccelKVM, nil
	case AccelTCG:
		return AccelTCG, nil
	}
	return "", fmt.Errorf("%w: accel %q: want auto, kvm or tcg", ErrInvalidConfig, want)
}
