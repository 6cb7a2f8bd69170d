package regfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenRefusesWhatIsNoRegularFile: a directory, /dev/zero and a FIFO
// (which a blocking open would wait on for a writer) are refused at once,
// naming the path and what it is; a file over the bound is refused.
func TestOpenRefusesWhatIsNoRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{dir: "directory", "/dev/zero": "character device", fifo: "FIFO"} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(path, 1<<20); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), what) {
				t.Errorf("%s: %v; want ErrNotRegular naming it and %q", path, err, what)
			}
		case <-time.After(20 * time.Second): // a guard, not a measure: an open that blocks never returns
			t.Fatalf("%s: ReadFile has not returned", path)
		}
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 4097), 0o644)
	if _, err := ReadFile(big, 4096); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "4097 bytes") {
		t.Errorf("4097-byte file, bound 4096: %v", err)
	}
	ok := filepath.Join(dir, "ok")
	want := bytes.Repeat([]byte("kernel"), 1000)
	os.WriteFile(ok, want, 0o644)
	if got, err := ReadFile(ok, int64(len(want))); err != nil || !bytes.Equal(got, want) {
		t.Errorf("file at the bound: %d bytes, %v", len(got), err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{256 << 20: "256 MiB", 1000: "1000 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
