package loadgen

import (
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// interArrivalDistance compares the sends' actual inter-arrival times with
// the schedule's (the load-delivered verdict, DESIGN.md rule 2), after
// Lancet's check that a generator produced the arrival process it was
// asked for. Lancet tests the fit with a p-value, which on the tens of
// thousands of gaps of one step rejects any generator for differences of
// nanoseconds; this is an effect size instead, so its verdict does not
// depend on the step's length: the Lévy distance between the two
// distributions with tol as its tolerance in time,
//
//	D = inf{ε ≥ 0 : F(x−tol) − ε ≤ G(x) ≤ F(x+tol) + ε for all x},
//
// where F is the intended gaps' distribution function and G the actual
// ones'. D is the largest share of gaps that are off by more than tol:
// sends a few µs apart in one batch or after one wake-up do not count,
// gaps systematically stretched or squeezed by more than tol (a generator
// that sends in bursts) do. 0 when either histogram is empty (no pair of
// measured sends to compare). Not on the hot path: it runs once a step.
func interArrivalDistance(intended, actual *hdrhistogram.Histogram, tol time.Duration) float64 {
	f, g := newStepCDF(intended), newStepCDF(actual)
	if f.total == 0 || g.total == 0 {
		return 0
	}
	t := int64(tol)
	d := 0.0
	// A histogram knows a value only to its bucket, [From, To]: the bound
	// gives the benefit of that doubt (at most 1 %, gapSigFigs) to the
	// generator. upper(x) counts a value once x reaches its bucket's
	// lowest value, lower(x) once x passes its highest, so G(x) − F(x+tol)
	// is bounded below by g.lower(x) − f.upper(x+tol), largest where
	// g.lower has just jumped (at G's tops) or f.upper is about to (just
	// below F's froms − tol); the same for F(x−tol) − G(x).
	for _, x := range g.tops {
		d = max(d, g.lower(x)-f.upper(x+t))
	}
	for _, x := range f.froms {
		d = max(d, g.lower(x-t-1)-f.upper(x-1))
	}
	for _, x := range f.tops {
		d = max(d, f.lower(x)-g.upper(x+t))
	}
	for _, x := range g.froms {
		d = max(d, f.lower(x-t-1)-g.upper(x-1))
	}
	return min(max(d, 0), 1)
}

// stepCDF is a histogram's distribution function, known to its buckets:
// lower(x) is the fraction of values in buckets whose highest value is at
// most x, upper(x) the fraction in buckets whose lowest value is.
type stepCDF struct {
	froms, tops []int64   // the non-empty buckets' lowest and highest values, ascending
	cum         []float64 // fraction of values up to and including bucket i
	total       int64
}

func newStepCDF(h *hdrhistogram.Histogram) *stepCDF {
	c := &stepCDF{total: h.TotalCount()}
	if c.total == 0 {
		return c
	}
	var n int64
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		n += b.Count
		c.froms = append(c.froms, b.From)
		c.tops = append(c.tops, b.To)
		c.cum = append(c.cum, float64(n)/float64(c.total))
	}
	return c
}

func (c *stepCDF) lower(x int64) float64 { return c.upTo(c.tops, x) }
func (c *stepCDF) upper(x int64) float64 { return c.upTo(c.froms, x) }

// upTo is the fraction of values in the buckets whose bound (from bounds,
// ascending) is at most x.
func (c *stepCDF) upTo(bounds []int64, x int64) float64 {
	i := sort.Search(len(bounds), func(i int) bool { return bounds[i] > x })
	if i == 0 {
		return 0
	}
	return c.cum[i-1]
}
