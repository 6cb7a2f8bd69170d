// Package regfile opens files ukbench reads whole (kernels, images) so
// that a path naming something that is not a regular file (a FIFO that
// would block the open, /dev/zero that never ends, a directory) or a file
// too large to be what is wanted is refused before anything is read.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Errors of Open, wrapped with the path and what was found.
var (
	// ErrNotRegular: the path names a directory, FIFO, device or socket.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file is larger than the caller's bound.
	ErrTooLarge = errors.New("file too large")
)

// Open opens the regular file at path for reading, refusing any other
// kind of file and one over max bytes. A FIFO is opened non-blocking, so
// that the open returns at once and the FIFO is refused. The caller
// closes the file.
func Open(path string, max int64) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (a %s)", path, ErrNotRegular, kind(st.Mode()))
	}
	if st.Size() > max {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w: %d bytes, over %s", path, ErrTooLarge, st.Size(), Size(max))
	}
	return f, st, nil
}

// ReadFile reads the regular file at path whole, refusing any other kind
// of file and one over max bytes (Open); it never reads more than max
// bytes, even from a file that grows meanwhile.
func ReadFile(path string, max int64) ([]byte, error) {
	f, st, err := Open(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, st.Size()+1)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if int64(len(buf)) > max {
			return nil, fmt.Errorf("%s: %w: it grew over %s while read", path, ErrTooLarge, Size(max))
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grew meanwhile: let append choose
		}
	}
}

// Size says a bound in bytes for an error message: in MiB when it is a
// whole number of them.
func Size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "file of mode " + m.String()
}
