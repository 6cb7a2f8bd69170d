package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ukbench/ukbench/internal/regfile"
)

// ErrHeaderFile is wrapped by every header-file error.
var ErrHeaderFile = errors.New("bad header file")

// maxHeaderFileLines bounds a header file's lines, comments and blank
// ones included.
const maxHeaderFileLines = 4096

// ReadHTTPHeaders reads a header file: one "Name: value" per line, each
// what CheckHeader accepts, at most MaxHeaders of them; blank lines and
// lines starting with '#' are skipped, and a line may end in CRLF. Errors
// name the file (name) and line.
func ReadHTTPHeaders(r io.Reader, name string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	// A header, its CR and the LF the scanner must see to end the line.
	sc.Buffer(make([]byte, 0, MaxHeaderLine+2), MaxHeaderLine+2)
	line := 0
	for sc.Scan() {
		if line++; line > maxHeaderFileLines {
			return nil, fmt.Errorf("%w: %s: more than %d lines", ErrHeaderFile, name, maxHeaderFileLines)
		}
		text := strings.TrimSuffix(sc.Text(), "\r")
		if trimmed := strings.TrimSpace(text); trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if err := CheckHeader(text); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrHeaderFile, name, line, err)
		}
		if len(out) == MaxHeaders {
			return nil, fmt.Errorf("%w: %s:%d: more than %d headers", ErrHeaderFile, name, line, MaxHeaders)
		}
		out = append(out, text)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: %s:%d: longer than %d bytes", ErrHeaderFile, name, line+1, MaxHeaderLine)
		}
		return nil, fmt.Errorf("%w: %s:%d: %w", ErrHeaderFile, name, line+1, err)
	}
	return out, nil
}

// maxHeaderFileBytes bounds a header file on disk: far more than
// MaxHeaders headers of any sane length.
const maxHeaderFileBytes = 1 << 20

// LoadHTTPHeaders reads a header file from disk (ReadHTTPHeaders): a
// regular file (not a FIFO or device) of at most 1 MiB.
func LoadHTTPHeaders(path string) ([]string, error) {
	f, _, err := regfile.Open(path, maxHeaderFileBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHeaderFile, err)
	}
	defer f.Close()
	return ReadHTTPHeaders(f, path)
}
