package linuximage

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestCheckKernelPackage: Debian kernel image packages pass; other
// packages (bash: it was downloaded and unpacked into the kernel cache),
// options, and linux-image- packages without a kernel are refused,
// naming the package; FetchDebianKernel refuses them before apt runs.
func TestCheckKernelPackage(t *testing.T) {
	for _, ok := range []string{"linux-image-amd64", "linux-image-6.1.0-18-amd64", "linux-image-6.1.0-18-amd64-unsigned", "linux-image-cloud-amd64", "linux-image-rt-amd64"} {
		if err := CheckKernelPackage(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for bad, why := range map[string]string{
		"bash":                              "not a Debian kernel image package",
		"linux-headers-amd64":               "not a Debian kernel image package",
		"linux-image-":                      "not a Debian kernel image package",
		"-o=APT::Get::Foo":                  "not a Debian package name",
		"Linux-Image-amd64":                 "not a Debian package name",
		"linux-image-6.1.0-18-amd64-dbg":    "without a kernel image",
		"linux-image-amd64-signed-template": "without a kernel image",
	} {
		err := CheckKernelPackage(bad)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v; want it named and %q", bad, err, why)
		}
		if _, err := FetchDebianKernel(context.Background(), t.TempDir(), bad, nil); !errors.Is(err, ErrNoKernel) || !strings.Contains(err.Error(), why) {
			t.Errorf("FetchDebianKernel(%q): %v; want ErrNoKernel saying %q", bad, err, why)
		}
	}
}
