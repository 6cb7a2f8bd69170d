package loadgen

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRates(t *testing.T) {
	tests := []struct {
		spec string
		want []float64
	}{
		{"1000", []float64{1000}},
		{"1000,2000,5000", []float64{1000, 2000, 5000}},
		{"1000:5000:1000", []float64{1000, 2000, 3000, 4000, 5000}},
		{"1000:4500:1000", []float64{1000, 2000, 3000, 4000}},
		{"1000:2000x1.25", []float64{1000, 1250, 1563, 1953}},
		{"100x", nil},
		{" 500 , 1000:2000:500 ", []float64{500, 1000, 1500, 2000}},
		{"1.5", []float64{1.5}},
	}
	for _, tt := range tests {
		got, err := ParseRates(tt.spec)
		if tt.want == nil {
			if err == nil {
				t.Errorf("ParseRates(%q) = %v, want an error", tt.spec, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRates(%q) = %v, %v; want %v", tt.spec, got, err, tt.want)
		}
	}
}

func TestParseRatesErrors(t *testing.T) {
	tests := []struct{ spec, mention string }{
		{"", "empty"},
		{"abc", `"abc" is not a number`},
		{"0", "must be above 0"},
		{"-5", "must be above 0"},
		{"5000:1000:1000", "below start"},
		{"1000:2000", "geometric factor"},
		{"1000:2000x1", "above 1"},
		{"1:2:3:4", "want RATE"},
		{"1:100000000:1", "more than"},
		{"1000,,2000", `""`},
	}
	for _, tt := range tests {
		_, err := ParseRates(tt.spec)
		if err == nil || !errors.Is(err, ErrRateSpec) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParseRates(%q) error = %v, want ErrRateSpec mentioning %q", tt.spec, err, tt.mention)
		}
	}
}
