package filesum

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path string, data []byte) Sum {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Of(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifyHashesOnlyWhatChanged: a file whose stamp says it is
// unchanged is not hashed again (a stamp that lies passes), even once
// hard-linked (which moves the inode change time); the same file written
// in place at the same size, or only touched, is hashed (and the lie
// found); a stamp is written when a hash matches.
func TestVerifyHashesOnlyWhatChanged(t *testing.T) {
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Now().Add(time.Hour) } // the file has settled
	dir := t.TempDir()
	p := filepath.Join(dir, "vmlinux")
	real := write(t, p, bytes.Repeat([]byte("A"), 4096))
	other := Sum{Bytes: real.Bytes, SHA256: strings.Repeat("0", 64)}
	if err := Record(p, other); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, filepath.Join(dir, "image-vmlinux")); err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyRecorded(p); err != nil || got != other {
		t.Fatalf("unchanged since the stamp: %v, %v; want the stamp's sum believed without hashing", got, err)
	}
	st, _ := os.Stat(p)
	os.Chtimes(p, st.ModTime(), st.ModTime().Add(-time.Minute))
	if _, err := VerifyRecorded(p); !errors.Is(err, ErrMismatch) {
		t.Fatalf("touched: %v; want the file hashed and found not to be the stamp's", err)
	}
	// A good hash writes the stamp: the next check reads it.
	if err := Verify(p, real); err != nil {
		t.Fatal(err)
	}
	if s, err := readStamp(p); err != nil || s.Sum != real || s.Identity.Ino == 0 {
		t.Fatalf("stamp after a match: %+v, %v", s, err)
	}
	// One byte written in place: the modification time moves.
	os.Chtimes(p, st.ModTime().Add(-time.Hour), st.ModTime().Add(-time.Hour))
	if err := Verify(p, real); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte("B"), 100)
	f.Close()
	if err := Verify(p, real); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("written in place at the same size: %v; want ErrMismatch on the SHA-256", err)
	}
}

// TestVerifyFindsDamage: a truncated file (by its size, whatever its
// stamp), and one corrupted in place at the same size with its
// modification time put back within the tick of the check before (a
// stamp for a file modified less than settle ago is not believed), are
// ErrMismatch naming the file.
func TestVerifyFindsDamage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "initramfs.cpio.gz")
	data := bytes.Repeat([]byte("initramfs"), 1000)
	want := write(t, p, data)
	if err := Verify(p, want); err != nil {
		t.Fatal(err)
	}
	os.Truncate(p, int64(len(data)/2))
	if err := Verify(p, want); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("truncated: %v; want ErrMismatch naming the file and its size", err)
	}

	q := filepath.Join(dir, "vmlinux")
	want = write(t, q, data)
	if err := Verify(q, want); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(q)
	f, _ := os.OpenFile(q, os.O_WRONLY, 0)
	f.WriteAt([]byte("X"), 100)
	f.Close()
	os.Chtimes(q, before.ModTime(), before.ModTime())
	if err := Verify(q, want); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("same size, one byte changed, mtime restored: %v; want ErrMismatch on the SHA-256", err)
	}
}

func TestVerifyRecordedWithoutStamp(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, []byte("x"))
	if _, err := VerifyRecorded(p); !errors.Is(err, ErrNoRecord) {
		t.Errorf("no stamp: %v, want ErrNoRecord", err)
	}
	os.WriteFile(StampPath(p), []byte("{not json"), 0o644)
	if _, err := VerifyRecorded(p); !errors.Is(err, ErrNoRecord) {
		t.Errorf("broken stamp: %v, want ErrNoRecord", err)
	}
}

// TestStampOfUnsettledFileVouchesForNothing: a file changed within settle
// gets a stamp that records its sum but not its identity.
func TestStampOfUnsettledFileVouchesForNothing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	s := write(t, p, []byte("fresh"))
	if err := Record(p, s); err != nil {
		t.Fatal(err)
	}
	if st, err := readStamp(p); err != nil || st.Sum != s || st.Identity != (identity{}) {
		t.Errorf("stamp of a fresh file: %+v, %v; want its sum and no identity", st, err)
	}
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Now().Add(time.Hour) }
	if err := Verify(p, s); err != nil {
		t.Fatal(err)
	}
	if st, _ := readStamp(p); st.Identity.Ino == 0 {
		t.Error("stamp of a settled file: no identity")
	}
}
