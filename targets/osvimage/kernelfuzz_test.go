package osvimage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadKernel: ReadKernel, given any bytes as a file, never panics,
// refuses with ErrKernel, or returns a kernel whose digest is that of
// the ELF it read. The bound is 16 MiB here (256 MiB in use): the same
// code, quicker executions. Seeds: a kernel carrying OSv's notes, the
// same gzip-compressed, cut, and not an ELF file
// (testdata/fuzz/FuzzReadKernel).
func FuzzReadKernel(f *testing.F) {
	defer func(m int64) { maxKernelBytes = m }(maxKernelBytes)
	maxKernelBytes = 16 << 20
	path := filepath.Join(f.TempDir(), "kernel") // rewritten by each execution
	f.Fuzz(func(t *testing.T, file []byte) {
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		k, err := ReadKernel(path)
		if err != nil {
			if !errors.Is(err, ErrKernel) {
				t.Fatalf("error without ErrKernel: %v", err)
			}
			return
		}
		sum := sha256.Sum256(k.ELF)
		if k.SHA256 != hex.EncodeToString(sum[:]) || int64(len(k.ELF)) > maxKernelBytes {
			t.Fatalf("kernel of %d bytes, digest %s", len(k.ELF), k.SHA256)
		}
	})
}
