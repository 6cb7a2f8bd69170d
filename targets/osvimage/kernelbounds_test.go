package osvimage

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/testbin"
)

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// TestReadKernelBoundsWhatItReads: a 4.6 MB gzip file of zeros (4.6 GB
// decompressed) is refused on its first decompressed bytes, allocating
// little; a gzip ELF header followed by 64 times the bound, and a plain
// file over it, are refused without reading past the bound.
func TestReadKernelBoundsWhatItReads(t *testing.T) {
	dir := t.TempDir()
	member := gzipped(t, make([]byte, 1<<20)) // about 1 KB each
	zeros := bytes.Repeat(member, 4_600_000/len(member))
	bomb := filepath.Join(dir, "zeros.gz")
	os.WriteFile(bomb, zeros, 0o644)
	var err error
	n := testbin.Allocated(func() { _, err = ReadKernel(bomb) })
	if n > 2<<20 {
		t.Errorf("%d-byte gzip of zeros: %d bytes allocated, want at most 2 MiB", len(zeros), n)
	}
	t.Logf("%d-byte gzip of zeros: refused, %d bytes allocated", len(zeros), n)
	if !errors.Is(err, ErrKernel) || !strings.Contains(err.Error(), bomb) || !strings.Contains(err.Error(), "not an ELF header") {
		t.Errorf("gzip of zeros: %v; want ErrKernel naming the file and the missing ELF header", err)
	}

	defer func(m int64) { maxKernelBytes = m }(maxKernelBytes)
	maxKernelBytes = 1 << 20
	// An ELF header, then 64 MiB of zeros (gzip members of 1 MiB).
	longGz := filepath.Join(dir, "long.gz")
	os.WriteFile(longGz, append(gzipped(t, []byte("\x7fELF")), bytes.Repeat(member, 64)...), 0o644)
	if n := testbin.Allocated(func() { _, err = ReadKernel(longGz) }); n > 16<<20 {
		t.Errorf("gzip of 64 MiB, bound 1 MiB: %d bytes allocated, want at most 16 MiB", n)
	}
	if !errors.Is(err, ErrKernel) || !strings.Contains(err.Error(), longGz) || !strings.Contains(err.Error(), "more than 1 MiB") {
		t.Errorf("gzip of 64 MiB, bound 1 MiB: %v", err)
	}
	long := append([]byte("\x7fELF"), make([]byte, 2<<20)...)
	plain := filepath.Join(dir, "long.elf")
	os.WriteFile(plain, long, 0o644)
	if n := testbin.Allocated(func() { _, err = ReadKernel(plain) }); n > 1<<20 {
		t.Errorf("2 MiB ELF, bound 1 MiB: %d bytes allocated", n)
	}
	if !errors.Is(err, ErrKernel) || !strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), "over 1 MiB") {
		t.Errorf("2 MiB ELF, bound 1 MiB: %v", err)
	}
}

// TestReadKernelRefusesWhatIsNoFile: /dev/zero (which never ends), a FIFO
// (whose open would wait for a writer) and a directory are refused at
// once, naming the path and what it is.
func TestReadKernelRefusesWhatIsNoFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "kernel.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{"/dev/zero": "character device", fifo: "FIFO", dir: "directory"} {
		done := make(chan error, 1)
		go func() { _, err := ReadKernel(path); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrKernel) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), "loader-stripped.elf") {
				t.Errorf("%s: %v; want ErrKernel naming it, %q and what is wanted", path, err, what)
			}
		case <-time.After(20 * time.Second): // a guard, not a measure: a blocked open never returns
			t.Fatalf("%s: ReadKernel has not returned", path)
		}
	}
}
