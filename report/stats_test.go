package report

import (
	"slices"
	"testing"
)

func TestSpreadGivesMedianMinAndMax(t *testing.T) {
	for _, tt := range []struct {
		name        string
		v           []float64
		med, lo, hi float64
		ok          bool
	}{
		{"empty", nil, 0, 0, 0, false},
		{"one value", []float64{7}, 7, 7, 7, true},
		{"odd count: the middle value", []float64{30, 10, 20}, 20, 10, 30, true},
		{"even count: the mean of the middle two", []float64{4, 1, 3, 2}, 2.5, 1, 4, true},
		{"repeated values", []float64{5, 5, 1, 5}, 5, 1, 5, true},
		{"zeros", []float64{0, 0}, 0, 0, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			med, lo, hi, ok := Spread(tt.v)
			if med != tt.med || lo != tt.lo || hi != tt.hi || ok != tt.ok {
				t.Errorf("Spread(%v) = %g, %g, %g, %v; want %g, %g, %g, %v", tt.v, med, lo, hi, ok, tt.med, tt.lo, tt.hi, tt.ok)
			}
		})
	}
}

func TestSpreadLeavesItsInputInOrder(t *testing.T) {
	v := []float64{3, 1, 2}
	Spread(v)
	if !slices.Equal(v, []float64{3, 1, 2}) {
		t.Errorf("Spread sorted its input: %v", v)
	}
}
