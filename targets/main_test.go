package targets

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ukbench/ukbench/targets/linuximage"
)

// testBinary is a static ukbench built for the tests (the guests' init and
// server, and the native server).
var testBinary string

func TestMain(m *testing.M) {
	if os.Getenv("UKBENCH_IN_NETNS") != "" && os.Getenv("UKBENCH_NETNS_BINARY") != "" {
		testBinary = os.Getenv("UKBENCH_NETNS_BINARY")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ukbench-targets-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBinary = filepath.Join(dir, "ukbench")
	build := exec.Command("go", "build", "-o", testBinary, "github.com/ukbench/ukbench/cmd/ukbench")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ukbench: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needQEMU skips a test when QEMU is not installed.
func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		skipOrFail(t, "qemu-system-x86_64 not installed (make test installs it: scripts/install-deps.sh qemu-system-x86)")
	}
}

// testKernel returns an unpacked Debian kernel: $UKBENCH_KERNEL_ROOT, or
// the package fetched into ukbench's cache. It skips when neither works.
func testKernel(t *testing.T) *linuximage.Kernel {
	t.Helper()
	if root := os.Getenv("UKBENCH_KERNEL_ROOT"); root != "" {
		k, err := linuximage.FindKernel(root)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cache, err := linuximage.CacheDir()
	if err != nil {
		t.Skip(err)
	}
	k, err := linuximage.FetchDebianKernel(context.Background(), filepath.Join(cache, "kernels"), "")
	if err != nil {
		skipOrFail(t, fmt.Sprintf("no guest kernel (needs Debian's apt: apt-get download linux-image-amd64): %v", err))
	}
	return k
}

// skipOrFail skips a test that lacks QEMU or a kernel, unless
// UKBENCH_REQUIRE_QEMU is set (make test sets it: there the VM tests must
// run).
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("UKBENCH_REQUIRE_QEMU") != "" {
		t.Fatal(why + " (UKBENCH_REQUIRE_QEMU is set)")
	}
	t.Skip(why)
}
