package osvimage

import (
	"errors"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/regfile"
	"github.com/ukbench/ukbench/internal/testbin"
)

// TestReadVDSOBounds: a libvdso.so over its bound (17 MiB, a few KB
// compressed) is refused before it is read; /dev/zero as the bootstrap
// is refused at once.
func TestReadVDSOBounds(t *testing.T) {
	big := bootstrapFile(t, map[string]string{"libvdso.so": strings.Repeat("\x00", 17<<20)})
	var err error
	if n := testbin.Allocated(func() { _, err = readVDSO(big) }); n > 4<<20 {
		t.Errorf("17 MiB libvdso.so: %d bytes allocated", n)
	}
	if err == nil || !strings.Contains(err.Error(), "over the 16 MiB") || !strings.Contains(err.Error(), big) {
		t.Errorf("17 MiB libvdso.so: %v; want it refused naming the file and the bound", err)
	}
	if _, err := readVDSO("/dev/zero"); !errors.Is(err, regfile.ErrNotRegular) {
		t.Errorf("/dev/zero: %v, want ErrNotRegular", err)
	}
}
