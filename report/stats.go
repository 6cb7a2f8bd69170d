package report

import "sort"

// Spread summarises a sample as the report shows it: its median (the mean
// of the middle two when the count is even) and its minimum and maximum.
// ok is false when v is empty. v is not changed.
func Spread(v []float64) (median, lo, hi float64, ok bool) {
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[0], s[n-1], true
}
