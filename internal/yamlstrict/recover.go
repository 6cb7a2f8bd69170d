package yamlstrict

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// ErrDecoderFailed marks a config on which the YAML library panicked
// instead of returning an error (a bug of the library's that some input
// reaches): the file is refused, the process goes on.
var ErrDecoderFailed = errors.New("the YAML decoder failed on it")

// recoverInto, deferred, turns a panic into an error naming file that
// wraps ErrConfig and ErrDecoderFailed, in *err.
func recoverInto(file string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: %w (%v)", ErrConfig, file, ErrDecoderFailed, r)
	}
}

// parseBytes is the YAML parser, a panic in it returned as an error.
func parseBytes(data []byte) (f *ast.File, err error) {
	defer recoverInto("", &err)
	return parser.ParseBytes(data, 0)
}
