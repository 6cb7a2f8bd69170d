// Package fielderr is the error every config validator in ukbench returns:
// the path of the field at fault plus the cause. Its message is
// "FIELD: WHAT" (targets[1].vm.cpus: 300: want 1 to 255); callers find the
// path with errors.As, never by reading the message, so
// internal/yamlstrict can give the field's line in the file it came from.
//
// A validator reports a field relative to what it validates (cpus); each
// caller that holds it in a larger structure adds its own steps in front
// with In (vm, then targets and [1]). Package sentinels stay in the chain:
// wrap the *Error with fmt.Errorf("%w: %w", ErrX, err).
package fielderr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is a problem with one field of a config.
type Error struct {
	// Path leads from the outermost structure to the field: keys, and
	// list indexes written as Index writes them ("[1]"). A key naming
	// several fields at once ("kernel/disk") is a choice among them, not
	// one field.
	Path []string
	// Err is the cause: what is wrong with the field's value.
	Err error
}

// Errorf returns an *Error for field whose cause is fmt.Errorf(format,
// args...) (so %w keeps a wrapped cause in the chain).
func Errorf(field, format string, args ...any) error {
	return &Error{Path: []string{field}, Err: fmt.Errorf(format, args...)}
}

// Wrap returns an *Error for field caused by err (nil when err is nil).
func Wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Path: []string{field}, Err: err}
}

// In puts path in front of err's field path: In(err, "targets", Index(1))
// turns vm.cpus into targets[1].vm.cpus. An err that is not itself an
// *Error becomes the cause of an *Error for path. In(nil, ...) is nil.
func In(err error, path ...string) error {
	if err == nil {
		return nil
	}
	if fe, ok := err.(*Error); ok {
		return &Error{Path: append(append([]string(nil), path...), fe.Path...), Err: fe.Err}
	}
	return &Error{Path: append([]string(nil), path...), Err: err}
}

// Index is the path step for the i'th element of a list.
func Index(i int) string { return "[" + strconv.Itoa(i) + "]" }

// IsIndex reports whether step is an Index step, and which.
func IsIndex(step string) (int, bool) {
	s, ok := strings.CutPrefix(step, "[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

// Field is the path as the user reads it: targets[1].vm.cpus.
func (e *Error) Field() string {
	var b strings.Builder
	for i, step := range e.Path {
		if _, ok := IsIndex(step); !ok && i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(step)
	}
	return b.String()
}

func (e *Error) Error() string { return e.Field() + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// As returns the *Error in err's chain, if there is one.
func As(err error) (*Error, bool) {
	var fe *Error
	ok := errors.As(err, &fe)
	return fe, ok
}

// CheckLine reports, as field's error, a value that must be one line of
// text (a path, a command line, a console or request line) but holds a NUL
// byte, a carriage return or a line break: the one check of that for every
// validator.
func CheckLine(field, value string) error {
	i := strings.IndexAny(value, "\x00\r\n")
	if i < 0 {
		return nil
	}
	what := "a line break"
	switch value[i] {
	case 0:
		what = "a NUL byte"
	case '\r':
		what = "a carriage return"
	}
	return Errorf(field, "%q: holds %s, which it cannot", value, what)
}
