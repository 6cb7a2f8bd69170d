// Package filesum proves that a file ukbench cached is still the one it
// wrote: its size and SHA-256 against a record. Hashing a large file on
// every use would cost more than the use, so a stamp beside the file
// remembers the file's identity and times when it last matched; the size
// is checked every time, the hash again only when the file changed since.
//
// The stamp of DIR/NAME is DIR/.NAME.sum (StampPath), a small JSON file.
// A change the stamp notices is one that moves the file's device, inode,
// size or modification time: any write, truncation, replacement or rename
// onto it, short of one that puts the modification time back (the inode
// change time is not compared: hard-linking the file, as Linux images do
// with the cached vmlinux, moves it, and would make every image that
// shares it hash again). File times tick coarsely (a few ms; seconds on
// some file systems), so a write within the same tick as the check would
// go unseen: a file modified less than settle ago is hashed every time,
// as git does with its "racily clean" entries. A byte that rots on the
// disk moves nothing, and is found only where the file is hashed.
package filesum

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ukbench/ukbench/internal/regfile"
)

// Sum is a file's size in bytes and SHA-256 (lower-case hex).
type Sum struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Errors of Verify and VerifyRecorded, wrapped with the path and what
// differs.
var (
	// ErrMismatch: the file is not the one recorded (size or SHA-256).
	ErrMismatch = errors.New("file differs from its record")
	// ErrNoRecord: VerifyRecorded found no stamp to check the file by.
	ErrNoRecord = errors.New("no record of the file")
)

// Of returns the size and SHA-256 of the file at path.
func Of(path string) (Sum, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sum{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Sum{}, fmt.Errorf("%s: %w", path, err)
	}
	return Sum{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// StampPath is the stamp of the file at path.
func StampPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".sum")
}

// stamp is what a stamp file holds: the sum the file matched and the
// file's identity and times when it did.
type stamp struct {
	Sum
	Identity identity `json:"identity"`
}

// identity is what changes when a file's content may have: device,
// inode, size, modification time (ns).
type identity struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
}

func identityOf(st os.FileInfo) (identity, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return identity{}, false
	}
	return identity{Dev: uint64(s.Dev), Ino: s.Ino, Size: s.Size, Mtime: s.Mtim.Nano()}, true
}

// maxStampBytes bounds a stamp file read (bytes): a few hundred in use.
const maxStampBytes = 4096

func readStamp(path string) (stamp, error) {
	b, err := regfile.ReadFile(StampPath(path), maxStampBytes)
	if err != nil {
		return stamp{}, err
	}
	var s stamp
	if err := json.Unmarshal(b, &s); err != nil {
		return stamp{}, fmt.Errorf("%s: %w", StampPath(path), err)
	}
	return s, nil
}

// Verify checks that the file at path is want: its size every time, its
// SHA-256 unless its stamp says it has not changed since it last matched
// want. A match by hash is recorded in the stamp; a stamp that cannot be
// written (a directory ukbench may not write in) only costs a hash next
// time. Errors wrap ErrMismatch when the file is not want.
func Verify(path string, want Sum) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file", path, ErrMismatch)
	}
	if st.Size() != want.Bytes {
		return fmt.Errorf("%s: %w: %d bytes, recorded %d (truncated or replaced?)", path, ErrMismatch, st.Size(), want.Bytes)
	}
	id, ok := identityOf(st)
	if s, err := readStamp(path); err == nil && ok && id.Ino != 0 && s.Sum == want && s.Identity == id {
		return nil
	}
	got, err := Of(path)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: %w: SHA-256 %s, recorded %s (corrupt?)", path, ErrMismatch, short(got.SHA256), short(want.SHA256))
	}
	writeStamp(path, want, st)
	return nil
}

// Record writes the stamp of the file at path, which the caller has just
// written and whose sum is s: VerifyRecorded checks the file by it.
func Record(path string, s Sum) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() != s.Bytes {
		return fmt.Errorf("%s: %w: %d bytes, not the %d given", path, ErrMismatch, st.Size(), s.Bytes)
	}
	return writeStamp(path, s, st)
}

// Recorded returns the sum the stamp of the file at path records, without
// checking the file; ErrNoRecord without a stamp.
func Recorded(path string) (Sum, error) {
	s, err := readStamp(path)
	if errors.Is(err, os.ErrNotExist) {
		return Sum{}, fmt.Errorf("%s: %w (%s)", path, ErrNoRecord, StampPath(path))
	}
	if err != nil {
		return Sum{}, fmt.Errorf("%s: %w: %w", path, ErrNoRecord, err)
	}
	return s.Sum, nil
}

// VerifyRecorded checks the file at path against the sum its stamp
// recorded (Record), as Verify does, and returns that sum. Without a
// stamp it fails with ErrNoRecord.
func VerifyRecorded(path string) (Sum, error) {
	s, err := Recorded(path)
	if err != nil {
		return Sum{}, err
	}
	return s, Verify(path, s)
}

// settle is how long ago a file must have last changed for its stamp to
// vouch for it: longer than any file system's time granularity (FAT's 2
// s).
const settle = 3 * time.Second

// now is the clock settle is measured by; a test moves it.
var now = time.Now

// writeStamp records that the file, as st describes it, matched s. A file
// modified within settle (or in the future) gets a stamp without its
// identity: the sum is recorded, the next check hashes.
func writeStamp(path string, s Sum, st os.FileInfo) error {
	id, ok := identityOf(st)
	if !ok || id.Mtime > now().Add(-settle).UnixNano() {
		id = identity{}
	}
	b, _ := json.Marshal(stamp{Sum: s, Identity: id})
	return os.WriteFile(StampPath(path), append(b, '\n'), 0o644)
}

func short(sha string) string { return sha[:min(16, len(sha))] }
