package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The switches that decide whether a test that lacks something skips or
// fails. A skip always says what was missing and how to get it; `make
// test` lists every skip of its run at its end.
const (
	// EnvRequireQEMU, when set (make test sets it), makes a test fail
	// instead of skipping when the machine lacks what make test installs
	// or needs: QEMU, Debian's guest kernel, the host servers, libvirt,
	// sshd, a C compiler, root, network namespaces.
	EnvRequireQEMU = "UKBENCH_REQUIRE_QEMU"
	// EnvOSvKernel names the user's OSv kernel (the project holds none;
	// make test and .ci/run set it to ../shared/osv/loader-stripped.elf
	// when that file is there). Without it the OSv tests skip; with it
	// they run, and an OSv test that cannot run fails.
	EnvOSvKernel = "UKBENCH_OSV_KERNEL"
	// EnvOSvImage names a finished OSv disk image the user built; the
	// tests of that target kind skip without it, and fail with it when
	// they cannot run.
	EnvOSvImage = "UKBENCH_OSV_IMAGE"
)

// SkipOrFail skips t because the machine lacks what why says, or fails
// it when the run requires that: under EnvRequireQEMU, and in a test that
// was given an OSv kernel or image (OSvKernel, OSvImage), which must run.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if req := required(t); req != "" {
		t.Fatalf("%s (%s)", why, req)
	}
	t.Skip(why)
}

// NeedQEMU skips (or fails, see SkipOrFail) without qemu-system-x86_64.
func NeedQEMU(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		SkipOrFail(t, "qemu-system-x86_64 not installed (make test installs it: scripts/install-deps.sh qemu-system-x86)")
	}
}

// OSvKernel returns the OSv kernel named by EnvOSvKernel and marks t as
// an OSv test: from then on, whatever else it lacks fails it (SkipOrFail).
// Without the variable t skips: the project holds no OSv kernel, a user
// brings one. A named file that cannot be read fails t.
func OSvKernel(t testing.TB) string {
	t.Helper()
	return given(t, EnvOSvKernel, "no OSv kernel: set "+EnvOSvKernel+" to one (loader-stripped.elf, or a release's osv-loader.elf.x86_64.gz; make test uses ../shared/osv/loader-stripped.elf when it is there)")
}

// OSvImage is OSvKernel for a finished OSv disk image (EnvOSvImage).
func OSvImage(t testing.TB) string {
	t.Helper()
	return given(t, EnvOSvImage, "no OSv image: set "+EnvOSvImage+" to an OSv disk image you built that runs `ukbench serve` (README, OSv)")
}

// given returns the file env names and marks t as required, or skips t
// with why when env is unset.
func given(t testing.TB, env, why string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Skip(why)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	requiredMu.Lock()
	requiredBy[t.Name()] = env
	requiredMu.Unlock()
	t.Cleanup(func() {
		requiredMu.Lock()
		delete(requiredBy, t.Name())
		requiredMu.Unlock()
	})
	return path
}

// requiredBy holds the tests given an OSv kernel or image (by test name)
// and the variable that gave it.
var (
	requiredMu sync.Mutex
	requiredBy = map[string]string{}
)

// required says why t must not skip, or "" when it may.
func required(t testing.TB) string {
	if os.Getenv(EnvRequireQEMU) != "" {
		return EnvRequireQEMU + " is set"
	}
	requiredMu.Lock()
	defer requiredMu.Unlock()
	for name := t.Name(); ; {
		if env, ok := requiredBy[name]; ok {
			return fmt.Sprintf("%s is set: this OSv test must run", env)
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return ""
		}
		name = name[:i]
	}
}
