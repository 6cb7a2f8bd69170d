package results

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// The record's numbers are walked by reflection, field by field under
// their JSON names, so that a field added to the format is checked
// (finite, not negative) without a line here.

// numPath is the JSON path of a value being walked, built into text only
// when a check reports it.
type numPath struct {
	parent *numPath
	name   string // a field's JSON name, or "" for an index
	index  int
}

func (p *numPath) String() string {
	if p == nil {
		return ""
	}
	var segs []*numPath
	for q := p; q != nil; q = q.parent {
		segs = append(segs, q)
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		switch {
		case s.name == "":
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case b.Len() > 0:
			b.WriteString("." + s.name)
		default:
			b.WriteString(s.name)
		}
	}
	return b.String()
}

// walkNumbers calls visit with the path and value of every float and
// signed integer reachable from v (a pointer to a record struct), in field
// order, until visit returns false. Values are settable.
func walkNumbers(v any, visit func(path *numPath, v reflect.Value) bool) {
	walkValue(reflect.ValueOf(v), nil, visit)
}

// jsonField is a struct field as walkNumbers sees it.
type jsonField struct {
	index int
	name  string // "" for an embedded struct whose fields are its holder's
}

var fieldCache sync.Map // reflect.Type → []jsonField

func jsonFields(t reflect.Type) []jsonField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]jsonField)
	}
	var fields []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case name == "" && !f.Anonymous:
			name = f.Name
		}
		fields = append(fields, jsonField{index: i, name: name})
	}
	fieldCache.Store(t, fields)
	return fields
}

func walkValue(v reflect.Value, path *numPath, visit func(*numPath, reflect.Value) bool) bool {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return true
		}
		return walkValue(v.Elem(), path, visit)
	case reflect.Struct:
		for _, f := range jsonFields(v.Type()) {
			p := path
			if f.name != "" {
				p = &numPath{parent: path, name: f.name}
			}
			if !walkValue(v.Field(f.index), p, visit) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if !walkValue(v.Index(i), &numPath{parent: path, index: i}, visit) {
				return false
			}
		}
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return visit(path, v)
	}
	return true
}

// firstNonFinite returns the path and value of the first float of v that
// is NaN or infinite.
func firstNonFinite(v any) (path string, f float64, found bool) {
	walkNumbers(v, func(p *numPath, n reflect.Value) bool {
		if n.CanFloat() && (math.IsNaN(n.Float()) || math.IsInf(n.Float(), 0)) {
			path, f, found = p.String(), n.Float(), true
		}
		return !found
	})
	return path, f, found
}

// firstNegative returns the path and value of the first number of v that
// is below 0.
func firstNegative(v any) (path string, f float64, found bool) {
	walkNumbers(v, func(p *numPath, n reflect.Value) bool {
		x := 0.0
		if n.CanFloat() {
			x = n.Float()
		} else {
			x = float64(n.Int())
		}
		if x < 0 {
			path, f, found = p.String(), x, true
		}
		return !found
	})
	return path, f, found
}

// zeroNonFinite sets every float of v that is NaN or infinite to 0 and
// returns their paths.
func zeroNonFinite(v any) []string {
	var paths []string
	walkNumbers(v, func(p *numPath, n reflect.Value) bool {
		if n.CanFloat() && (math.IsNaN(n.Float()) || math.IsInf(n.Float(), 0)) {
			n.SetFloat(0)
			paths = append(paths, p.String())
		}
		return true
	})
	return paths
}
