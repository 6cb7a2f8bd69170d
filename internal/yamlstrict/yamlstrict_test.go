package yamlstrict

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/fielderr"
)

type cfg struct {
	Name    string `yaml:"name"`
	Targets []struct {
		Kind string `yaml:"kind"`
		VM   struct {
			CPUs int `yaml:"cpus"`
		} `yaml:"vm"`
	} `yaml:"targets"`
}

const doc = `name: x
targets:
  - kind: linux
  - kind: osv
    vm:
      cpus: 2
`

func TestDecodeErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"name: x\nbogus: 1\n", "c.yaml:2:"},
		{"name: x\ntargets:\n  - kind: linux\n    vm:\n      cpus: many\n", "c.yaml:5:"},
	} {
		var c cfg
		err := Decode("c.yaml", []byte(tc.doc), &c)
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want an ErrConfig containing %q", tc.doc, err, tc.want)
		}
	}
	var c cfg
	if err := Decode("c.yaml", []byte(doc), &c); err != nil || c.Targets[1].VM.CPUs != 2 {
		t.Fatalf("Decode(good) = %v, %+v", err, c)
	}
}

func TestLocateFindsTheFieldOrItsParent(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want string
	}{
		{[]string{"targets", "[1]", "vm", "cpus"}, "c.yaml:6: targets[1].vm.cpus: bad"},
		{[]string{"targets", "[0]", "vm", "cpus"}, "c.yaml:3: targets[0].vm.cpus: bad"}, // absent: its parent's line
		{[]string{"name"}, "c.yaml:1: name: bad"},
		{[]string{"targets", "[1]", "kind/vm"}, "c.yaml:4: targets[1].kind/vm: bad"},       // a choice of fields: the first one set
		{[]string{"targets", "[1]", "image/vm"}, "c.yaml:6: targets[1].image/vm: bad"},     // vm is set (its value starts on line 6)
		{[]string{"targets", "[1]", "image/disk"}, "c.yaml:4: targets[1].image/disk: bad"}, // none set: the line of what holds them
	} {
		fe := &fielderr.Error{Path: tc.path, Err: errors.New("bad")}
		err := Locate("c.yaml", []byte(doc), fmt.Errorf("%w", fe))
		if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConfig) {
			t.Errorf("Locate(%s) = %v, want an ErrConfig containing %q", fe.Field(), err, tc.want)
		}
		if got, ok := fielderr.As(err); !ok || got != fe {
			t.Errorf("Locate(%s) = %v, lost the *fielderr.Error", fe.Field(), err)
		}
	}
	// The line comes from the path, not the message.
	err := Locate("c.yaml", []byte(doc), &fielderr.Error{Path: []string{"targets", "[1]", "vm", "cpus"}, Err: errors.New("name: x")})
	if !strings.Contains(err.Error(), "c.yaml:6: targets[1].vm.cpus: name: x") {
		t.Errorf("Locate = %v, want line 6", err)
	}
	if err := Locate("c.yaml", []byte(doc), errors.New("name: bad")); strings.Contains(err.Error(), "c.yaml:1") {
		t.Errorf("Locate(text error) = %v: a message that merely starts like a field got a line", err)
	}
}

type textValue struct{ d time.Duration }

func (v *textValue) UnmarshalText(b []byte) (err error) {
	if v.d, err = time.ParseDuration(string(b)); err != nil {
		return fmt.Errorf("%q: want a duration", b)
	}
	return nil
}

// TestDecodeLocatesAValueItsDecoderRefuses: goccy gives a TextUnmarshaler's
// error no position; Decode finds the refused value in the document, even
// when the same text appears earlier as another field's value.
func TestDecodeLocatesAValueItsDecoderRefuses(t *testing.T) {
	var c struct {
		Name  string `yaml:"name"`
		Steps []struct {
			Name string    `yaml:"name"`
			Wait textValue `yaml:"wait"`
		} `yaml:"steps"`
	}
	const doc = "name: soon\nsteps:\n  - wait: 1s\n  - name: soon\n    wait: soon\n"
	err := Decode("c.yaml", []byte(doc), &c)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `c.yaml:5: steps[1].wait: "soon": want a duration`) {
		t.Errorf("Decode = %v, want line 5", err)
	}
}

// TestDecodeErrorsNameTheYAMLField: a wrong type, a refused value or an
// unknown key names the field by its YAML path (and its line), never a Go
// struct field or type.
func TestDecodeErrorsNameTheYAMLField(t *testing.T) {
	type inner struct {
		Rates string    `yaml:"rates"`
		Wait  textValue `yaml:"wait"`
		N     int       `yaml:"n"`
	}
	var c struct {
		Name string  `yaml:"name"`
		W    []inner `yaml:"workloads"`
	}
	for _, tc := range []struct{ doc, want, field string }{
		{"name: x\nworkloads:\n  - rates: [1, 2]\n", `c.yaml:3: workloads[0].rates: want a single value, not a list`, "workloads[0].rates"},
		{"name: x\nworkloads:\n  - rates: a\n  - wait: 10\n", `c.yaml:4: workloads[1].wait: "10": want a duration`, "workloads[1].wait"},
		{"name: x\nworkloads:\n  - n: two\n", `c.yaml:3: workloads[0].n: want an integer, not "two"`, "workloads[0].n"},
		{"name: x\nworkloads:\n  - rates: a\n    stepp: 1s\n", `c.yaml:4: workloads[0]: unknown field "stepp"`, "workloads[0]"},
		{"name: [x]\n", `c.yaml:1: name: want a single value, not a list`, "name"},
	} {
		err := Decode("c.yaml", []byte(tc.doc), &c)
		fe, ok := fielderr.As(err)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) || !ok || fe.Field() != tc.field {
			t.Errorf("Decode(%q) = %v, want an ErrConfig containing %q with field %s", tc.doc, err, tc.want, tc.field)
		}
		if err != nil && (strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "interface")) {
			t.Errorf("Decode(%q) = %v: speaks Go, not YAML", tc.doc, err)
		}
	}
}

func TestDocHas(t *testing.T) {
	d := Parse([]byte(doc + "repeats: 0\nempty:\n"))
	for _, tc := range []struct {
		path []string
		want bool
	}{
		{[]string{"repeats"}, true},
		{[]string{"empty"}, true},
		{[]string{"targets", "[1]", "vm", "cpus"}, true},
		{[]string{"targets", "[0]", "vm", "cpus"}, false},
		{[]string{"targets", "[2]"}, false},
		{[]string{"nope"}, false},
	} {
		if got := d.Has(tc.path...); got != tc.want {
			t.Errorf("Has(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	if Parse([]byte(":\n  - [")).Has("x") {
		t.Error("a broken document has fields")
	}
}
