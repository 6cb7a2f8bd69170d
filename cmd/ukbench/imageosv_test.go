package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/targets/osvimage"
)

// TestImageOSvWithTheGivenKernel runs `ukbench image osv` as a user does,
// with the OSv kernel given (testbin.EnvOSvKernel) and ukbench-pie beside
// ukbench, for each app OSv runs, then `ukbench boot` of a target whose
// image is the directory it wrote: it must answer.
func TestImageOSvWithTheGivenKernel(t *testing.T) {
	kernel := testbin.OSvKernel(t)
	bin := staticUkbench(t)
	testbin.PIE(t) // beside bin: the PIE image osv and boot default to
	if _, err := exec.LookPath("lighttpd"); err != nil {
		testbin.SkipOrFail(t, "lighttpd not installed (make deps-apps installs it)")
	}
	dirs := map[string]string{}
	for _, app := range []string{"http", "dns", "lighttpd"} {
		out := filepath.Join(t.TempDir(), "osv-"+app)
		dirs[app] = out
		stdout, err := exec.Command(bin, "image", "osv", "--kernel", kernel, "--app", app, "-o", out).CombinedOutput()
		if err != nil {
			t.Fatalf("image osv --app %s: %v\n%s", app, err, stdout)
		}
		if !strings.Contains(string(stdout), "app "+app+", OSv kernel "+kernel) {
			t.Errorf("image osv --app %s said %q, want the app and the kernel named", app, stdout)
		}
		im, err := osvimage.ReadImage(out)
		if err != nil {
			t.Fatal(err)
		}
		if im.App != app || len(im.KernelSHA256) != 64 || len(im.DiskSHA256) != 64 {
			t.Errorf("image.json %+v: want app %s with the kernel's and disk's digests", im, app)
		}
		for _, f := range []string{im.Kernel, im.Disk} {
			if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
				t.Errorf("image osv --app %s: %s: %v", app, f, err)
			}
		}
	}

	target := filepath.Join(t.TempDir(), "osv.yaml")
	os.WriteFile(target, []byte("{name: osv, kind: osv, app: lighttpd, image: "+dirs["lighttpd"]+", vm: {memory_mib: 512}}\n"), 0o644)
	figures := filepath.Join(t.TempDir(), "boot.json")
	if out, err := exec.Command(bin, "boot", target, "--runs", "1", "--out", figures).CombinedOutput(); err != nil {
		t.Fatalf("boot %s: %v\n%s", target, err, out)
	}
	var sum bootSummary
	b, err := os.ReadFile(figures)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Kind != "osv" || len(sum.Boots) != 1 || sum.Boots[0].Error != "" || sum.Boots[0].Boot == nil || sum.Boots[0].Boot.FirstAnswerMS <= 0 {
		t.Errorf("boot figures %s: want one OSv boot to its first answer", b)
	}
}
