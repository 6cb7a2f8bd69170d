package report

import (
	"fmt"
	"strconv"
)

// readableLatency writes a latency given in µs in the unit a reader takes
// in at a glance, with three significant digits: "850 µs", "1.65 ms",
// "231 ms", "2.31 s" (never "1.65e+03 ms").
func readableLatency(us float64) string {
	v, unit := us, "µs"
	switch {
	case us >= 1e6:
		v, unit = us/1e6, "s"
	case us >= 1e3:
		v, unit = us/1e3, "ms"
	}
	// Three significant digits, without an exponent.
	digits := 2
	switch {
	case v >= 100:
		digits = 0
	case v >= 10:
		digits = 1
	}
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if v >= 1000 { // seconds beyond 1000 s: whole seconds
		s = fmt.Sprintf("%.0f", v)
	}
	return s + " " + unit
}
