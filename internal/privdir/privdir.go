// Package privdir makes ukbench's private temporary directories so that the
// ones a killed ukbench left behind can be found and removed, and live ones
// never are.
//
// A private directory is named ukbench-KIND-PID-RANDOM (the PID is for
// people; it is not trusted, PIDs are reused) and holds a lock file on which
// its owner keeps an exclusive flock(2) for as long as the directory is in
// use. The kernel releases the lock when the owner dies, however it dies
// (SIGKILL included), so a sweeper that can take the lock knows the owner is
// gone. The lock file is locked before it gets its final name: a directory
// without it is either not ukbench's or still being made, and is left alone.
package privdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Prefix starts the name of every private directory.
const Prefix = "ukbench-"

// LockName is the lock file inside a private directory.
const LockName = ".ukbench-owner.lock"

// Dir is a private directory held by this process. Remove it when done.
type Dir struct {
	Path string

	once sync.Once
	lock *os.File
	err  error
}

// Make makes a private directory of kind (e.g. "vm", "boot") in the
// temporary directory ($TMPDIR or /tmp), mode 0700, and holds its lock.
func Make(kind string) (*Dir, error) { return MakeIn(os.TempDir(), kind) }

// MakeIn is Make in parent.
func MakeIn(parent, kind string) (*Dir, error) {
	path, err := os.MkdirTemp(parent, Prefix+kind+"-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	lock, err := takeLock(path)
	if err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("private directory %s: %w", path, err)
	}
	return &Dir{Path: path, lock: lock}, nil
}

// takeLock creates the lock file under a temporary name, locks it, and
// only then gives it its final name, so that a sweeper never sees an
// unlocked lock file of a live directory.
func takeLock(dir string) (*os.File, error) {
	tmp := filepath.Join(dir, LockName+".new")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	if err := os.Rename(tmp, filepath.Join(dir, LockName)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Remove removes the directory and everything in it, then releases the
// lock. It is safe to call more than once and returns the first call's
// error.
func (d *Dir) Remove() error {
	d.once.Do(func() {
		d.err = os.RemoveAll(d.Path)
		if err := d.lock.Close(); d.err == nil {
			d.err = err
		}
	})
	return d.err
}

// Sweep removes the private directories in the temporary directory whose
// owner has died; see SweepIn.
func Sweep() ([]string, error) { return SweepIn(os.TempDir()) }

// SweepIn removes every private directory in parent whose owner has died
// and returns their paths. It touches only directories named Prefix…,
// owned by this user, not symbolic links, that hold a lock file nobody
// holds; a live owner's directory (this process's included) stays. Errors
// are joined; the sweep goes on past them.
func SweepIn(parent string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), Prefix) || !e.IsDir() { // IsDir: not a symlink to one
			continue
		}
		dir := filepath.Join(parent, e.Name())
		gone, err := sweepOne(dir)
		if err != nil {
			errs = append(errs, err)
		}
		if gone {
			removed = append(removed, dir)
		}
	}
	return removed, errors.Join(errs...)
}

// sweepOne removes dir if it is a private directory whose owner is dead.
func sweepOne(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false, nil // gone meanwhile, or not a directory
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
		return false, nil // not this user's
	}
	fd, err := syscall.Open(filepath.Join(dir, LockName), syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false, nil // no lock file: not ukbench's, or still being made
	}
	defer syscall.Close(fd)
	var lst syscall.Stat_t
	if err := syscall.Fstat(fd, &lst); err != nil || lst.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return false, nil
	}
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false, nil // held: the owner is alive
	}
	// Holding the lock, the directory is ours to remove.
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("remove leftover %s: %w", dir, err)
	}
	return true, nil
}
