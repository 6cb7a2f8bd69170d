package targets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/vm"
)

// osvWithCmdline is an OSv disk target whose command line ukbench must
// write into a private copy.
func osvWithCmdline(t *testing.T, qemu string) Spec {
	return Spec{Kind: KindOSv, App: "http", Image: testbin.OSvDisk(t), Cmdline: "/ukbench serve http --listen 0.0.0.0:80", VM: VMShape{QEMU: qemu, Accel: vm.AccelTCG}}
}

var tcg = &vm.AccelChoice{Accel: vm.AccelTCG, Reason: "test"}

// The private copy of an OSv disk is in a private directory (not the
// result directory's console/), there while QEMU runs, and gone once the
// machine has stopped.
func TestOSvPrivateCopyLivesInAPrivateDirectoryUntilStop(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	seen := filepath.Join(t.TempDir(), "seen")
	// A QEMU that notes the private files it was given, then aborts.
	qemu := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	os.WriteFile(qemu, []byte(`#!/bin/sh
[ "$1" = --version ] && { echo "QEMU emulator version 0.0.0 (fake)"; exit 0; }
ls "$TMPDIR"/`+privdir.Prefix+`osv-*/ > `+seen+`
echo "qemu-system-x86_64: fake abort" >&2
exit 1
`), 0o755)
	work := t.TempDir()
	_, err := Boot(t.Context(), osvWithCmdline(t, qemu), BootOptions{WorkDir: work, RunID: "osv-http-r1", Accel: tcg, Binary: "/bin/true"})
	if err == nil {
		t.Fatal("boot with a QEMU that exits at once succeeded")
	}
	if got, _ := os.ReadFile(seen); !strings.Contains(string(got), "osv-http-r1-osv.raw") {
		t.Errorf("QEMU saw private files %q, want the disk copy osv-http-r1-osv.raw", got)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, privdir.Prefix+"*")); len(left) > 0 {
		t.Errorf("private directories left after the machine stopped: %v", left)
	}
	entries, _ := os.ReadDir(work)
	for _, e := range entries {
		if e.Name() != "osv-http-r1.log" {
			t.Errorf("work directory holds %s; want only the console log", e.Name())
		}
	}
}

// A dry run checks the image and names the copy but writes nothing: not in
// a result directory that does not exist yet, nor a private directory.
func TestOSvCommandLineWritesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	work := filepath.Join(t.TempDir(), "new-results", "console")
	argv, err := CommandLine(t.Context(), osvWithCmdline(t, "qemu-system-x86_64"), BootOptions{WorkDir: work, RunID: "osv-http-r1", Accel: tcg, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(argv, func(a string) bool { return strings.Contains(a, "file=PRIVATE_DIR/osv-http-r1-osv.raw,") }) {
		t.Errorf("command line %q does not name the private copy", argv)
	}
	if _, err := os.Stat(filepath.Dir(work)); !os.IsNotExist(err) {
		t.Errorf("dry run made %s: %v", filepath.Dir(work), err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("dry run wrote %v into the temporary directory", left)
	}
	// Still checked: a command line OSv cannot hold.
	long := osvWithCmdline(t, "qemu-system-x86_64")
	long.Cmdline = strings.Repeat("x", osvCmdlineMax+1)
	if _, err := CommandLine(t.Context(), long, BootOptions{WorkDir: work, Accel: tcg, Binary: "/bin/true"}); err == nil {
		t.Error("dry run accepted an over-long command line")
	}
}

// A kernel that cannot be read is named once as the kernel ("kernel:
// open …"), not "kernel: kernel: …".
func TestOSvImageUnreadableKernelSaysKernelOnce(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "loader.elf")
	_, err := OSvImage(t.Context(), Spec{Kind: KindOSv, App: "http", Kernel: missing}, BootOptions{CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), missing) || strings.Count(err.Error(), "kernel:") != 1 {
		t.Fatalf("OSvImage: %v, want the kernel %s named once", err, missing)
	}
}
