package osvimage

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadVDSO: taking libvdso.so out of a bootstrap package (gzip, tar)
// never panics and never returns more than its bound. Seeds: packages as
// OSv's are laid out, with and without libvdso.so, and cut
// (testdata/fuzz/FuzzReadVDSO).
func FuzzReadVDSO(f *testing.F) {
	path := filepath.Join(f.TempDir(), "osv.bootstrap.mpm.x86_64") // rewritten by each execution
	f.Fuzz(func(t *testing.T, file []byte) {
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := readVDSO(path); err == nil && len(b) > maxBootstrapVDSOBytes {
			t.Fatalf("%d bytes of libvdso.so", len(b))
		}
	})
}
