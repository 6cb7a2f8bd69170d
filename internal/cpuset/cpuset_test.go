package cpuset

import (
	"errors"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	got, err := Parse("0-2, 6,1")
	if err != nil || !slices.Equal(got, []int{0, 1, 2, 6}) {
		t.Errorf("Parse = %v, %v; want [0 1 2 6]", got, err)
	}
	if got, err := Parse(""); err != nil || got != nil {
		t.Errorf("Parse(\"\") = %v, %v; want no CPUs", got, err)
	}
	for _, bad := range []string{"3-1", "a", "-1", "0-2000", "1,"} {
		if _, err := Parse(bad); !errors.Is(err, ErrList) {
			t.Errorf("Parse(%q) = %v, want ErrList", bad, err)
		}
	}
}
