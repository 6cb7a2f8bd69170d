package experiment

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// testBinary is a static ukbench for the guests and native servers.
var testBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ukbench-experiment-test-")
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

// needQEMU skips (or, with UKBENCH_REQUIRE_QEMU set, fails) without QEMU.
func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		if os.Getenv("UKBENCH_REQUIRE_QEMU") != "" {
			t.Fatal("qemu-system-x86_64 not installed (UKBENCH_REQUIRE_QEMU is set)")
		}
		t.Skip("qemu-system-x86_64 not installed")
	}
}
