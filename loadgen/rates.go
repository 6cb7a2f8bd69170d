package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrRateSpec is wrapped by every rate-spec parse error.
var ErrRateSpec = errors.New("bad rate spec")

// maxRates bounds the number of steps a spec may expand to.
const maxRates = 10000

// ParseRates expands a rate spec into offered rates in requests per second:
//
//	1000,2000,5000      a list
//	1000:40000:1000     start:stop:step (stop included when reached)
//	1000:100000x1.25    start:stop×factor, geometric (stop included when reached)
//
// Parts may be mixed with commas ("500,1000:5000:1000"). Rates must be
// positive; the result keeps the order given.
func ParseRates(spec string) ([]float64, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("%w: empty; want e.g. 1000,2000 or 1000:40000:1000 or 1000:100000x1.25", ErrRateSpec)
	}
	var out []float64
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		rates, err := parseRatePart(part)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrRateSpec, part, err)
		}
		out = append(out, rates...)
		if len(out) > maxRates {
			return nil, fmt.Errorf("%w %q: expands to more than %d rates", ErrRateSpec, spec, maxRates)
		}
	}
	return out, nil
}

func parseRatePart(part string) ([]float64, error) {
	fields := strings.Split(part, ":")
	switch len(fields) {
	case 1:
		r, err := parseRate(fields[0])
		if err != nil {
			return nil, err
		}
		return []float64{r}, nil
	case 2: // start:stopxfactor
		start, err := parseRate(fields[0])
		if err != nil {
			return nil, err
		}
		stopS, factorS, found := strings.Cut(fields[1], "x")
		if !found {
			return nil, errors.New("two fields need a geometric factor, as in 1000:100000x1.25")
		}
		stop, err := parseRate(stopS)
		if err != nil {
			return nil, err
		}
		factor, err := strconv.ParseFloat(factorS, 64)
		if err != nil || !(factor > 1) || math.IsInf(factor, 0) {
			return nil, fmt.Errorf("factor %q: want a number above 1", factorS)
		}
		if stop < start {
			return nil, fmt.Errorf("stop %g is below start %g", stop, start)
		}
		var out []float64
		for r := start; r <= stop*(1+1e-9); r *= factor {
			out = append(out, math.Round(r))
			if len(out) > maxRates {
				return nil, fmt.Errorf("expands to more than %d rates", maxRates)
			}
		}
		return out, nil
	case 3: // start:stop:step
		start, err := parseRate(fields[0])
		if err != nil {
			return nil, err
		}
		stop, err := parseRate(fields[1])
		if err != nil {
			return nil, err
		}
		step, err := parseRate(fields[2])
		if err != nil {
			return nil, err
		}
		if stop < start {
			return nil, fmt.Errorf("stop %g is below start %g", stop, start)
		}
		if (stop-start)/step > maxRates {
			return nil, fmt.Errorf("expands to more than %d rates", maxRates)
		}
		var out []float64
		for i := 0; ; i++ {
			r := start + float64(i)*step
			if r > stop*(1+1e-9) {
				break
			}
			out = append(out, r)
		}
		return out, nil
	}
	return nil, errors.New("want RATE, START:STOP:STEP or START:STOPxFACTOR")
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if r <= 0 {
		return 0, fmt.Errorf("rate %g must be above 0", r)
	}
	return r, nil
}
