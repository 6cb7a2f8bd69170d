package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/internal/testbin"
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
	testbin.Main(m, &testBinary)
}

func needQEMU(t *testing.T) { t.Helper(); testbin.NeedQEMU(t) }

func skipOrFail(t *testing.T, why string) { t.Helper(); testbin.SkipOrFail(t, why) }

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
	cache, err := cachedir.Dir()
	if err != nil {
		skipOrFail(t, fmt.Sprintf("no cache directory for the guest kernel: %v", err))
	}
	k, err := linuximage.FetchDebianKernel(context.Background(), filepath.Join(cache, "kernels"), "", nil)
	if err != nil {
		skipOrFail(t, fmt.Sprintf("no guest kernel (needs Debian's apt: apt-get download linux-image-amd64): %v", err))
	}
	return k
}
