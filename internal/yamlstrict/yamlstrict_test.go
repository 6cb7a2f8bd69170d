package yamlstrict

import (
	"errors"
	"fmt"
	"strings"
	"testing"
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
	for _, tc := range []struct{ field, want string }{
		{"targets[1].vm.cpus", "c.yaml:6: targets[1].vm.cpus: bad"},
		{"targets[0].vm.cpus", "c.yaml:3: targets[0].vm.cpus: bad"}, // absent: its parent's line
		{"name", "c.yaml:1: name: bad"},
	} {
		err := Locate("c.yaml", []byte(doc), fmt.Errorf("%s: bad", tc.field))
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Locate(%s) = %v, want %q", tc.field, err, tc.want)
		}
	}
}
