package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ukbench/ukbench/internal/privdir"
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
