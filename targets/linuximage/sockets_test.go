package linuximage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildRefusesSocketCounts: a negative or too large DNS socket count
// never reaches the guest's command line: Build refuses it before
// writing anything.
func TestBuildRefusesSocketCounts(t *testing.T) {
	for _, n := range []int{-5, 257} {
		out := filepath.Join(t.TempDir(), "img")
		_, err := Build(context.Background(), Options{App: AppDNS, Kernel: fakeKernel(t), Binary: "/nonexistent", Sockets: n, OutDir: out})
		if err == nil || !strings.Contains(err.Error(), "sockets") {
			t.Errorf("sockets %d: %v; want it refused", n, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("sockets %d: %s written", n, out)
		}
	}
}
