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
	"github.com/goccy/go-yaml/token"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// ErrConfig marks a config file that cannot be used.
var ErrConfig = errors.New("bad config")

// Decode decodes data (read from file) into v, rejecting unknown keys and
// wrong types. Its errors are FILE:LINE: FIELD: WHAT, FIELD the path of
// the YAML field at fault (workloads[0].step; an unknown key is named in
// WHAT, after the path of the mapping that holds it) in a
// *fielderr.Error. What guard refuses (over MaxFileSize, an anchor, alias
// or tag, deeper than MaxDepth) is refused before anything is decoded.
// A panic of the YAML library is returned as ErrDecoderFailed.
func Decode(file string, data []byte, v any) (err error) {
	if err := guard(file, data); err != nil {
		return err
	}
	defer recoverInto(file, &err)
	err = yaml.UnmarshalWithOptions(data, v, yaml.Strict(), yaml.DisallowUnknownField())
	if err == nil {
		return nil
	}
	var body ast.Node
	if f, perr := parser.ParseBytes(data, 0); perr == nil && len(f.Docs) > 0 {
		body = f.Docs[0].Body
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		tok := ye.GetToken()
		if tok == nil || tok.Position == nil {
			return fmt.Errorf("%w: %s: %s", ErrConfig, file, ye.GetMessage())
		}
		path, n := pathTo(body, tok)
		var unknown *yaml.UnknownFieldError
		if errors.As(err, &unknown) && len(path) > 0 {
			path = path[:len(path)-1] // the key is in the message: name where it is
		}
		var cause error = errors.New(decodeMessage(err, ye, n))
		if len(path) > 0 {
			cause = &fielderr.Error{Path: path, Err: cause}
		}
		return fmt.Errorf("%w: %s:%d: %w", ErrConfig, file, tok.Position.Line, cause)
	}
	// A value's own decoder (a duration, say) refused it: goccy gives no
	// position, so find the value that decoder refuses in the document.
	if n, path := refusedText(body, reflect.TypeOf(v), nil); n != nil {
		if tok := n.GetToken(); tok != nil && tok.Position != nil {
			return fmt.Errorf("%w: %s:%d: %w", ErrConfig, file, tok.Position.Line, &fielderr.Error{Path: path, Err: err})
		}
	}
	return fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
}

// decodeMessage says what goccy's error says in the YAML's terms, not Go's
// (a list where a string belongs, not "[]interface {} into Go struct
// field Config.Workloads of type string"); n is the node at fault, if
// found.
func decodeMessage(err error, ye yaml.Error, n ast.Node) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && te.DstType != nil {
		got := describeNode(n)
		if got == "" {
			return "want " + describeType(te.DstType)
		}
		return fmt.Sprintf("want %s, not %s", describeType(te.DstType), got)
	}
	var oe *yaml.OverflowError
	if errors.As(err, &oe) && oe.DstType != nil {
		return fmt.Sprintf("%s: out of range for %s", oe.SrcNum, describeType(oe.DstType))
	}
	return ye.GetMessage()
}

// describeType names what a Go type takes in YAML.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a single value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a single value"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value lines)"
	}
	return t.String()
}

// describeNode says what the document holds at n.
func describeNode(n ast.Node) string {
	switch v := n.(type) {
	case nil:
		return ""
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.NullNode:
		return "an empty value"
	case ast.ScalarNode:
		return fmt.Sprintf("%q", fmt.Sprint(v.GetValue()))
	}
	return ""
}

// pathTo finds the field of the document that tok belongs to (a key, or
// the first token of a value) and returns its path and its value node; a
// token found only by its line gives the deepest field on that line.
func pathTo(body ast.Node, tok *token.Token) ([]string, ast.Node) {
	if body == nil {
		return nil, nil
	}
	var byLine []string
	var byLineNode ast.Node
	var exact []string
	var exactNode ast.Node
	found := false
	var walk func(n ast.Node, path []string)
	visit := func(tk *token.Token, value ast.Node, path []string) {
		if found || tk == nil || tk.Position == nil {
			return
		}
		if tk.Position.Line == tok.Position.Line && tk.Position.Column == tok.Position.Column {
			exact, exactNode, found = path, value, true
		} else if tk.Position.Line == tok.Position.Line && len(path) >= len(byLine) {
			byLine, byLineNode = path, value
		}
	}
	walk = func(n ast.Node, path []string) {
		if found {
			return
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			walk(v.Value, path)
		case *ast.TagNode:
			walk(v.Value, path)
		case *ast.MappingNode, *ast.MappingValueNode:
			for _, mv := range mappingValues(v) {
				k, ok := mv.Key.(ast.ScalarNode)
				if !ok {
					continue
				}
				p := append(append([]string(nil), path...), fmt.Sprint(k.GetValue()))
				visit(mv.Key.GetToken(), mv.Value, p)
				if mv.Value != nil {
					visit(mv.Value.GetToken(), mv.Value, p)
				}
				walk(mv.Value, p)
			}
		case *ast.SequenceNode:
			for i, e := range v.Values {
				p := append(append([]string(nil), path...), fielderr.Index(i))
				if e != nil {
					visit(e.GetToken(), e, p)
				}
				walk(e, p)
			}
		}
	}
	walk(body, nil)
	if found {
		return exact, exactNode
	}
	return byLine, byLineNode
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// refusedText walks n as goccy decodes it into a t, and returns the first
// scalar (fields in the struct's order, as goccy reports them) whose
// destination is an encoding.TextUnmarshaler that refuses its text, or
// nil, with its field path (path leads to n).
func refusedText(n ast.Node, t reflect.Type, path []string) (ast.Node, []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := n.(type) {
	case nil:
		return nil, nil
	case *ast.AnchorNode:
		return refusedText(v.Value, t, path)
	case *ast.TagNode:
		return refusedText(v.Value, t, path)
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		var s string
		if _, ok := n.(ast.ScalarNode); !ok || yaml.NodeToValue(n, &s) != nil {
			return nil, nil
		}
		if reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)) != nil {
			return n, path
		}
		return nil, nil
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
			var at []string
			if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
				bad, at = refusedText(n, f.Type, path)
			} else {
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				bad, at = refusedText(values[name], f.Type, append(append([]string(nil), path...), name))
			}
			if bad != nil {
				return bad, at
			}
		}
	case reflect.Slice, reflect.Array:
		if s, ok := n.(*ast.SequenceNode); ok {
			for i, e := range s.Values {
				if bad, at := refusedText(e, t.Elem(), append(append([]string(nil), path...), fielderr.Index(i))); bad != nil {
					return bad, at
				}
			}
		}
	case reflect.Map:
		for _, mv := range mappingValues(n) {
			k := ""
			if ks, ok := mv.Key.(ast.ScalarNode); ok {
				k = fmt.Sprint(ks.GetValue())
			}
			if bad, at := refusedText(mv.Value, t.Elem(), append(append([]string(nil), path...), k)); bad != nil {
				return bad, at
			}
		}
	}
	return nil, nil
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
// parent that is present in data; for a choice among several fields,
// "kernel/disk", the first of them that data sets). It wraps ErrConfig and
// err. An error without a field gets no line.
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
// falling back to its parents. A step that is a choice among fields
// (image/kernel_root) is the first of them the document sets.
func lineOf(data []byte, path []string) (line int) {
	if guard("", data) != nil {
		return 0
	}
	defer func() {
		if recover() != nil {
			line = 0 // the YAML library panicked: no line
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return 0
	}
	path = append([]string(nil), path...)
	doc := &Doc{f: f}
	for i, step := range path {
		if !strings.Contains(step, "/") {
			continue
		}
		chosen := ""
		for _, alt := range strings.Split(step, "/") {
			if doc.Has(append(append([]string(nil), path[:i]...), alt)...) {
				chosen = alt
				break
			}
		}
		if chosen == "" {
			path = path[:i] // none set: the line of what holds them
			break
		}
		path[i] = chosen
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

// Doc is a parsed document, to ask which fields it sets: a field it sets
// to zero is not one it leaves out (an explicit repeats: 0 is an error,
// an absent one takes the default).
type Doc struct{ f *ast.File }

// Parse parses data for Has; a document that does not parse, or that
// Decode would refuse unparsed, sets nothing.
func Parse(data []byte) *Doc {
	if guard("", data) != nil {
		return &Doc{}
	}
	f, err := parseBytes(data)
	if err != nil {
		return &Doc{}
	}
	return &Doc{f: f}
}

// Has reports whether the document sets the field at path (keys, and list
// indexes as fielderr.Index writes them), null or not.
func (d *Doc) Has(path ...string) bool {
	if d == nil || d.f == nil || len(d.f.Docs) == 0 {
		return false
	}
	n := d.f.Docs[0].Body
	for _, step := range path {
		n = unwrap(n)
		if i, ok := fielderr.IsIndex(step); ok {
			s, isSeq := n.(*ast.SequenceNode)
			if !isSeq || i >= len(s.Values) {
				return false
			}
			n = s.Values[i]
			continue
		}
		var next ast.Node
		found := false
		for _, mv := range mappingValues(n) {
			if k, ok := mv.Key.(ast.ScalarNode); ok && fmt.Sprint(k.GetValue()) == step {
				next, found = mv.Value, true
				break
			}
		}
		if !found {
			return false
		}
		n = next
	}
	return true
}

func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
}
