package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/internal/testbin"
)

// A ukbench killed by SIGKILL leaves its private directories with a lock
// file nobody holds; run and boot remove them at start, and leave a live
// ukbench's and anything that is not ukbench's.
func TestRunAndBootSweepDeadOwnersDirectories(t *testing.T) {
	for _, args := range [][]string{{"boot", "xen:dns"}, {"run", "--dry-run", filepath.Join(t.TempDir(), "missing.yaml")}} {
		t.Run(args[0], func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			dead := filepath.Join(tmp, "ukbench-vm-4242-123")
			os.Mkdir(dead, 0o700)
			os.WriteFile(filepath.Join(dead, privdir.LockName), []byte("4242\n"), 0o600)
			os.WriteFile(filepath.Join(dead, "qmp.sock"), nil, 0o600)
			foreign := filepath.Join(tmp, "ukbench-boot-1-1") // no lock: not known to be ukbench's
			os.Mkdir(foreign, 0o700)
			live, err := privdir.Make("boot")
			if err != nil {
				t.Fatal(err)
			}
			defer live.Remove()
			runCLI(context.Background(), args...)
			if _, err := os.Stat(dead); !os.IsNotExist(err) {
				t.Errorf("%s left a dead owner's directory: %v", args[0], err)
			}
			for _, d := range []string{foreign, live.Path} {
				if _, err := os.Stat(d); err != nil {
					t.Errorf("%s removed %s: %v", args[0], d, err)
				}
			}
		})
	}
}

// run --dry-run of an OSv disk target with a command line (which a real run
// writes into a private copy of the disk) prints the plan and writes
// nothing: not into a result directory that does not exist yet, not into
// one that does, not into the temporary directory.
func TestDryRunOfOSvDiskWritesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "osv.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`name: osv
vm: {qemu: %s, accel: tcg}
targets: [{name: osv, kind: osv, app: http, image: %s, cmdline: "/ukbench serve http --listen 0.0.0.0:80"}]
workloads: [{kind: http, rates: "200", step: 300ms}]
`, testbin.FailingQEMU(t), testbin.OSvDisk(t))), 0o644)
	existing := filepath.Join(dir, "existing")
	os.MkdirAll(filepath.Join(existing, "console"), 0o755)
	for _, out := range []string{filepath.Join(dir, "new"), existing} {
		stdout, stderr, code := runCLI(context.Background(), "run", cfg, "--dry-run", "-o", out)
		if code != 0 || !strings.Contains(stdout, "file=PRIVATE_DIR/osv-http-r1-osv.raw,") {
			t.Errorf("dry run into %s: exit %d; want 0 and the private copy named\n%s%s", out, code, stdout, stderr)
		}
		var written []string
		filepath.Walk(out, func(path string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				written = append(written, path)
			}
			return nil
		})
		if len(written) > 0 {
			t.Errorf("dry run into %s wrote %v", out, written)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Errorf("dry run made the result directory: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("dry run wrote %v into the temporary directory", left)
	}
}
