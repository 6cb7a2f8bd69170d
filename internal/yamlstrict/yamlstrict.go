// Package yamlstrict decodes YAML config files strictly (unknown keys and
// wrong types are errors) and reports every problem as FILE:LINE: FIELD:
// WHAT, so a user can find it. It wraps github.com/goccy/go-yaml, whose
// errors and AST carry positions; a validation error's field comes from
// the *fielderr.Error in its chain, its line from the parsed document.
package yamlstrict

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/ukbench/ukbench/internal/fielderr"
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
	// A value's own decoder (a duration, say) refused it: goccy gives no
	// position, so find the value that decoder refuses in the document.
	if f, perr := parser.ParseBytes(data, 0); perr == nil && len(f.Docs) > 0 {
		if n := refusedText(f.Docs[0].Body, reflect.TypeOf(v)); n != nil {
			if tok := n.GetToken(); tok != nil && tok.Position != nil {
				return fmt.Errorf("%w: %s:%d: %w", ErrConfig, file, tok.Position.Line, err)
			}
		}
	}
	return fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// refusedText walks n as goccy decodes it into a t, and returns the first
// scalar (fields in the struct's order, as goccy reports them) whose
// destination is an encoding.TextUnmarshaler that refuses its text, or nil.
func refusedText(n ast.Node, t reflect.Type) ast.Node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := n.(type) {
	case nil:
		return nil
	case *ast.AnchorNode:
		return refusedText(v.Value, t)
	case *ast.TagNode:
		return refusedText(v.Value, t)
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		var s string
		if _, ok := n.(ast.ScalarNode); !ok || yaml.NodeToValue(n, &s) != nil {
			return nil
		}
		if reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)) != nil {
			return n
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		values := map[string]ast.Node{}
		for _, mv := range mappingValues(n) {
			if k, ok := mv.Key.(ast.ScalarNode); ok {
				values[fmt.Sprint(k.GetValue())] = mv.Value
			}
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() && !f.Anonymous {
				continue
			}
			var bad ast.Node
			if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
				bad = refusedText(n, f.Type)
			} else {
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				bad = refusedText(values[name], f.Type)
			}
			if bad != nil {
				return bad
			}
		}
	case reflect.Slice, reflect.Array:
		if s, ok := n.(*ast.SequenceNode); ok {
			for _, e := range s.Values {
				if bad := refusedText(e, t.Elem()); bad != nil {
					return bad
				}
			}
		}
	case reflect.Map:
		for _, mv := range mappingValues(n) {
			if bad := refusedText(mv.Value, t.Elem()); bad != nil {
				return bad
			}
		}
	}
	return nil
}

// mappingValues returns the key-value pairs of a mapping node (none for
// any other node).
func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}
	}
	return nil
}

// Locate turns a validation error into FILE:LINE: FIELD: WHAT, with the
// line of the field its *fielderr.Error names (or of that field's nearest
// parent that is present in data). It wraps ErrConfig and err. An error
// without a field, or whose field is a choice among several
// ("kernel/disk"), gets no line.
func Locate(file string, data []byte, err error) error {
	if err == nil {
		return nil
	}
	if fe, ok := fielderr.As(err); ok {
		if line := lineOf(data, fe.Path); line > 0 {
			return fmt.Errorf("%w: %s:%d: %w", ErrConfig, file, line, err)
		}
	}
	return fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
}

// lineOf finds the line of a field path such as targets, [1], vm, cpus,
// falling back to its parents.
func lineOf(data []byte, path []string) int {
	for _, step := range path {
		if strings.Contains(step, "/") {
			return 0 // several fields: no one line
		}
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return 0
	}
	for ; len(path) > 0; path = path[:len(path)-1] {
		b := (&yaml.PathBuilder{}).Root()
		for _, step := range path {
			if i, ok := fielderr.IsIndex(step); ok {
				b = b.Index(uint(i))
			} else {
				b = b.Child(step)
			}
		}
		if n, err := b.Build().FilterFile(f); err == nil && n != nil {
			if tok := n.GetToken(); tok != nil && tok.Position != nil {
				return tok.Position.Line
			}
		}
	}
	return 0
}
