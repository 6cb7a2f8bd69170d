package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// TestBuildVariants builds the two binaries `make build` makes and checks
// their kind: a fully static executable for Linux guests and the host, and
// an externally linked PIE, which OSv needs (it hangs on static Go binaries).
func TestBuildVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice; skipped with -short")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		testbin.SkipOrFail(t, "the PIE build needs cgo and gcc: apt-get install gcc")
	}
	dir := t.TempDir()
	build := func(name string, env []string, args ...string) *elf.File {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), ".")...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, b)
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	hasInterp := func(f *elf.File) bool {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				return true
			}
		}
		return false
	}
	static := build("ukbench", []string{"CGO_ENABLED=0"})
	if static.Type != elf.ET_EXEC || hasInterp(static) {
		t.Errorf("static build: type %v, interpreter %v; want ET_EXEC without one", static.Type, hasInterp(static))
	}
	pie := build("ukbench-pie", []string{"CGO_ENABLED=1"}, "-buildmode=pie", "-ldflags=-linkmode=external")
	if pie.Type != elf.ET_DYN || !hasInterp(pie) {
		t.Errorf("PIE build: type %v, interpreter %v; want ET_DYN with the dynamic loader", pie.Type, hasInterp(pie))
	}
}
