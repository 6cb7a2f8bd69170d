// Package testbin serves the tests that run ukbench as a separate program
// or boot guests: it builds the static ukbench once per test binary and
// decides, in one place (skip.go), whether a test that lacks something
// skips or fails.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Static returns a static ukbench built from this module (the guests'
// init and server, and the native server). Call Cleanup from TestMain.
func Static() (string, error) {
	once.Do(func() {
		if err = makeDir(); err != nil {
			return
		}
		path = filepath.Join(dir, "ukbench")
		build := exec.Command("go", "build", "-o", path, "github.com/ukbench/ukbench/cmd/ukbench")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, berr := build.CombinedOutput(); berr != nil {
			err = fmt.Errorf("building ukbench: %v\n%s", berr, out)
		}
	})
	return path, err
}

// Cgo builds ukbench as a Go user gets it from go build or go install:
// cgo on (CGO_ENABLED=1, so dynamically linked against the C library),
// with extra build flags (e.g. -ldflags=-linkmode=external), once per name.
// It skips t when there is no C compiler (go build then turns cgo off).
// The binary is removed by Cleanup.
func Cgo(t testing.TB, name string, flags ...string) string {
	t.Helper()
	cc, _ := exec.Command("go", "env", "CC").Output()
	if _, err := exec.LookPath(strings.Fields(string(cc) + " gcc")[0]); err != nil {
		SkipOrFail(t, fmt.Sprintf("no C compiler (go env CC: %q): a cgo build needs one: %v", strings.TrimSpace(string(cc)), err))
	}
	cgoMu.Lock()
	defer cgoMu.Unlock()
	if p, ok := cgoBuilt[name]; ok {
		return p
	}
	if err := makeDir(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	args := append(append([]string{"build", "-o", p}, flags...), "github.com/ukbench/ukbench/cmd/ukbench")
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %v (CGO_ENABLED=1): %v\n%s", args, err, out)
	}
	cgoBuilt[name] = p
	return p
}

// PIE is ukbench built as OSv runs it (an externally linked PIE, as make
// build-pie makes), named ukbench-pie beside Static's binary, where the
// OSv targets look for it. It skips or fails t as Cgo does.
func PIE(t testing.TB) string {
	t.Helper()
	return Cgo(t, "ukbench-pie", "-buildmode=pie", "-ldflags=-linkmode=external")
}

var (
	cgoMu    sync.Mutex
	cgoBuilt = map[string]string{}
)

var (
	dirOnce sync.Once
	dirErr  error
)

// makeDir makes the directory the binaries are built in.
func makeDir() error {
	dirOnce.Do(func() { dir, dirErr = os.MkdirTemp("", "ukbench-testbin-") })
	return dirErr
}

// Cleanup removes the built binary.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// Main builds the static ukbench into *bin, runs the tests and exits,
// removing the binary: a TestMain body for packages that boot guests. A
// fuzzing worker (go test -fuzz starts one or more, and restarts them)
// runs only the fuzz target, which boots nothing: it builds no binary.
func Main(m *testing.M, bin *string) {
	if slices.Contains(os.Args[1:], "-test.fuzzworker") {
		os.Exit(m.Run())
	}
	var err error
	if *bin, err = Static(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	Cleanup()
	os.Exit(code)
}
