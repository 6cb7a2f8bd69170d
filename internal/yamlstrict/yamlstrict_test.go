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
		{[]string{"targets", "[1]", "kind/vm"}, "c.yaml: targets[1].kind/vm: bad"}, // a choice of fields: no line
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
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `c.yaml:5: "soon": want a duration`) {
		t.Errorf("Decode = %v, want line 5", err)
	}
}
