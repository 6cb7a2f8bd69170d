package fielderr

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

func TestInPutsTheOuterPathInFrontAndKeepsTheCause(t *testing.T) {
	cause := os.ErrNotExist
	err := In(In(Wrap("cpus", cause), "vm"), "targets", Index(1))
	if got, want := err.Error(), "targets[1].vm.cpus: "+cause.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%v does not wrap its cause", err)
	}
	sentinel := errors.New("invalid thing")
	wrapped := fmt.Errorf("%w: %w", sentinel, err)
	fe, ok := As(wrapped)
	if !ok || fe.Field() != "targets[1].vm.cpus" || !errors.Is(wrapped, sentinel) || !errors.Is(wrapped, cause) {
		t.Errorf("As(%v) = %v, %v", wrapped, fe, ok)
	}
	if got := In(errors.New("none given"), "placement", "load_cpus").Error(); got != "placement.load_cpus: none given" {
		t.Errorf("In(plain error) = %q", got)
	}
	if In(nil, "x") != nil || Wrap("x", nil) != nil {
		t.Error("In/Wrap of nil is not nil")
	}
}

func TestIsIndex(t *testing.T) {
	for step, want := range map[string]int{"[0]": 0, "[12]": 12, "x": -1, "[x]": -1, "[-1]": -1, "[1": -1} {
		i, ok := IsIndex(step)
		if ok != (want >= 0) || ok && i != want {
			t.Errorf("IsIndex(%q) = %d, %v", step, i, ok)
		}
	}
}

func TestCheckLineNamesTheCharacter(t *testing.T) {
	for value, want := range map[string]string{
		"a\x00b": `cmdline: "a\x00b": holds a NUL byte, which it cannot`,
		"a\rb":   `cmdline: "a\rb": holds a carriage return, which it cannot`,
		"a\nb":   `cmdline: "a\nb": holds a line break, which it cannot`,
	} {
		err := CheckLine("cmdline", value)
		var fe *Error
		if err == nil || err.Error() != want || !errors.As(err, &fe) || fe.Field() != "cmdline" {
			t.Errorf("CheckLine(%q) = %v, want %s as a field error", value, err, want)
		}
	}
	if err := CheckLine("cmdline", "/ukbench serve http"); err != nil {
		t.Errorf("one line refused: %v", err)
	}
}
