package vm

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// BenchmarkResolveAccel measures what `auto` costs on this host, with the
// real QEMU and /dev/kvm: a verdict made now (the probe guest boots under
// KVM, or QEMU fails), one read from the cache file (a new process), and
// one this process already holds. BENCHMARKS.md has the figures.
func BenchmarkResolveAccel(b *testing.B) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		testbin.SkipOrFail(b, "qemu-system-x86_64 not installed")
	}
	b.Setenv("UKBENCH_CACHE", b.TempDir())
	ctx := context.Background()
	resolve := func(b *testing.B) {
		if _, err := ResolveAccel(ctx, qemu, AccelRequest{AccelAuto, "benchmark"}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			forgetProbes()
			if path, err := probeCachePath(); err == nil {
				os.Remove(path)
			}
			resolve(b)
		}
	})
	b.Run("cache-file", func(b *testing.B) {
		resolve(b)
		for b.Loop() {
			forgetProbes()
			resolve(b)
		}
	})
	b.Run("in-process", func(b *testing.B) {
		resolve(b)
		for b.Loop() {
			resolve(b)
		}
	})
}
