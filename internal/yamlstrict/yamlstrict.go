// Package yamlstrict decodes YAML config files strictly (unknown keys and
// wrong types are errors) and reports every problem as FILE:LINE: FIELD:
// WHAT, so a user can find it. It wraps github.com/goccy/go-yaml, whose
// errors and AST carry positions.
package yamlstrict

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// ErrConfig marks a config file that cannot be used.
var ErrConfig = errors.New("bad config")

// Decode decodes data (read from file) into v, rejecting unknown keys and
// wrong types.
func Decode(file string, data []byte, v any) error {
	err := yaml.UnmarshalWithOptions(data, v, yaml.Strict(), yaml.DisallowUnknownField())
	if err == nil {
		return nil
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		tok := ye.GetToken()
		msg := ye.GetMessage()
		if tok != nil && tok.Position != nil {
			return fmt.Errorf("%w: %s:%d: %s", ErrConfig, file, tok.Position.Line, msg)
		}
		return fmt.Errorf("%w: %s: %s", ErrConfig, file, msg)
	}
	// A value's own decoder (a duration, say) failed: goccy gives no
	// position, so find the quoted value it names.
	if m := quoted.FindStringSubmatch(err.Error()); m != nil {
		if line := lineOfValue(data, m[1]); line > 0 {
			return fmt.Errorf("%w: %s:%d: %v", ErrConfig, file, line, err)
		}
	}
	return fmt.Errorf("%w: %s: %v", ErrConfig, file, err)
}

var quoted = regexp.MustCompile(`"([^"]+)"`)

// lineOfValue returns the first line whose value (after "key:" or "- ")
// is v.
func lineOfValue(data []byte, v string) int {
	for i, l := range strings.Split(string(data), "\n") {
		_, val, ok := strings.Cut(l, ":")
		if !ok {
			val = strings.TrimPrefix(strings.TrimSpace(l), "- ")
		}
		val = strings.Trim(strings.TrimSpace(val), `"'`)
		if val == v {
			return i + 1
		}
	}
	return 0
}

// fieldPrefix matches a field path at the start of a validation message:
// "targets[1].vm.cpus: ...".
var fieldPrefix = regexp.MustCompile(`^([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): `)

// Locate turns a validation error whose message starts with a field path
// into FILE:LINE: FIELD: WHAT, with the line of that field in data (or of
// its nearest parent that is present). It wraps ErrConfig and err.
func Locate(file string, data []byte, err error) error {
	if err == nil {
		return nil
	}
	m := fieldPrefix.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
	}
	if line := lineOf(data, m[1]); line > 0 {
		return fmt.Errorf("%w: %s:%d: %w", ErrConfig, file, line, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
}

// lineOf finds the line of a field path such as "targets[1].vm.cpus",
// falling back to its parents.
func lineOf(data []byte, field string) int {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return 0
	}
	for field != "" {
		if p, err := yaml.PathString("$." + field); err == nil {
			if n, err := p.FilterFile(f); err == nil && n != nil {
				if tok := n.GetToken(); tok != nil && tok.Position != nil {
					return tok.Position.Line
				}
			}
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}
