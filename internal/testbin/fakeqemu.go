package testbin

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// QEMUAbortMessage is what the fake QEMU of FailingQEMU prints before it
// aborts: QEMU's own words on a broken nested KVM.
const QEMUAbortMessage = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69"

// FailingQEMU writes a fake qemu-system-x86_64 into a test directory and
// returns its path: it answers --version, and otherwise prints
// QEMUAbortMessage and aborts at once, before QMP, as QEMU does where
// /dev/kvm cannot run guests. A guest target with it fails in
// milliseconds.
func FailingQEMU(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	script := `#!/bin/sh
if [ "$1" = --version ]; then
	echo "QEMU emulator version 0.0.0 (fake, aborts)"
	exit 0
fi
echo "` + QEMUAbortMessage + `" >&2
ulimit -c 0
kill -ABRT $$
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// OSvDisk writes the least an osv target boots as a disk image (one
// sector with a boot signature) and returns its path: enough to reach
// QEMU, nothing that runs.
func OSvDisk(t testing.TB) string {
	t.Helper()
	sector := make([]byte, 512)
	sector[510], sector[511] = 0x55, 0xaa
	path := filepath.Join(t.TempDir(), "usr.img")
	if err := os.WriteFile(path, sector, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// FailingCampaign is an experiment config (YAML) whose one guest target,
// broken, runs under TCG with FailingQEMU and OSvDisk, so each of its 2
// repeats fails in milliseconds; extraTargets (YAML list items, indented
// by two spaces, or "") are added after it.
func FailingCampaign(t testing.TB, extraTargets string) string {
	t.Helper()
	return fmt.Sprintf(`name: failing
repeats: 2
vm:
  qemu: %s
  accel: tcg
targets:
  - name: broken
    kind: osv
    app: dns
    image: %s
%sworkloads:
  - kind: dns
    rates: "200"
    step: 300ms
    warmup: 100ms
`, FailingQEMU(t), OSvDisk(t), extraTargets)
}
