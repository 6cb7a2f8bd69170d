package loadgen

import (
	"math"
	"sort"
	"testing"
	"time"
)

func TestConstantPacerPace(t *testing.T) {
	p := ConstantPacer{Rate: 1000, Length: 10 * time.Millisecond}
	tests := []struct {
		elapsed  time.Duration
		sent     uint64
		wantWait time.Duration
		wantStop bool
	}{
		{0, 0, 0, false},
		{0, 1, time.Millisecond, false},
		{500 * time.Microsecond, 1, 500 * time.Microsecond, false},
		{3 * time.Millisecond, 1, 0, false}, // overdue: send now
		{9 * time.Millisecond, 9, 0, false},
		{9 * time.Millisecond, 10, 0, true}, // the 11th send would be at 10 ms = Length
	}
	for _, tt := range tests {
		wait, stop := p.Pace(tt.elapsed, tt.sent)
		if wait != tt.wantWait || stop != tt.wantStop {
			t.Errorf("Pace(%v, %d) = (%v, %v), want (%v, %v)", tt.elapsed, tt.sent, wait, stop, tt.wantWait, tt.wantStop)
		}
	}
}

func TestNewPacerSendersInterleave(t *testing.T) {
	// Four constant senders sharing 4000/s must together send every 250 µs.
	const of = 4
	var all []time.Duration
	for i := 0; i < of; i++ {
		p := NewPacer(Constant, 4000, 10*time.Millisecond, i, of, 1)
		for n := uint64(0); ; n++ {
			at, ok := p.Due(n)
			if !ok {
				break
			}
			all = append(all, at)
		}
	}
	if len(all) != 40 {
		t.Fatalf("got %d sends in 10 ms at 4000/s, want 40", len(all))
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	for i, at := range all {
		want := time.Duration(i) * 250 * time.Microsecond
		if d := at - want; d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("send %d at %v, want %v", i, at, want)
		}
	}
}

func TestPoissonPacerIsPure(t *testing.T) {
	p := &PoissonPacer{Rate: 1000, Length: time.Hour, Seed: 7}
	var first []time.Duration
	for n := uint64(0); n < 100; n++ {
		at, _ := p.Due(n)
		first = append(first, at)
	}
	// Asking again, out of order, gives the same times.
	for _, n := range []uint64{50, 3, 99, 0} {
		if at, _ := p.Due(n); at != first[n] {
			t.Errorf("Due(%d) = %v on a second ask, want %v", n, at, first[n])
		}
	}
	q := &PoissonPacer{Rate: 1000, Length: time.Hour, Seed: 7}
	if at, _ := q.Due(99); at != first[99] {
		t.Errorf("same seed, fresh pacer: Due(99) = %v, want %v", at, first[99])
	}
}

// TestPoissonArrivals checks the gaps of the merged Poisson senders against
// the exponential distribution with a Kolmogorov–Smirnov test, and the
// counts per window against Poisson dispersion (variance ≈ mean).
func TestPoissonArrivals(t *testing.T) {
	const rate, of = 5000.0, 3
	length := 20 * time.Second
	var all []float64
	for i := 0; i < of; i++ {
		p := NewPacer(Poisson, rate, length, i, of, 42)
		for n := uint64(0); ; n++ {
			at, ok := p.Due(n)
			if !ok {
				break
			}
			all = append(all, at.Seconds())
		}
	}
	sort.Float64s(all)
	n := float64(len(all))
	if want := rate * length.Seconds(); math.Abs(n-want) > 4*math.Sqrt(want) {
		t.Fatalf("%v arrivals, want %v ± 4σ", n, want)
	}
	gaps := make([]float64, 0, len(all))
	for i := 1; i < len(all); i++ {
		gaps = append(gaps, all[i]-all[i-1])
	}
	sort.Float64s(gaps)
	var d float64
	for i, g := range gaps {
		cdf := 1 - math.Exp(-rate*g)
		d = math.Max(d, math.Max(math.Abs(cdf-float64(i)/float64(len(gaps))), math.Abs(cdf-float64(i+1)/float64(len(gaps)))))
	}
	// Critical value at α = 0.001: 1.95/√n.
	if crit := 1.95 / math.Sqrt(float64(len(gaps))); d > crit {
		t.Errorf("KS distance %.5f > %.5f: gaps are not exponential with rate %v", d, crit, rate)
	}
	// Counts in 10 ms windows: Poisson has variance = mean.
	counts := make([]float64, int(length/(10*time.Millisecond)))
	for _, at := range all {
		counts[int(at/0.01)]++
	}
	var mean, m2 float64
	for _, c := range counts {
		mean += c
	}
	mean /= float64(len(counts))
	for _, c := range counts {
		m2 += (c - mean) * (c - mean)
	}
	dispersion := m2 / float64(len(counts)-1) / mean
	if dispersion < 0.9 || dispersion > 1.1 {
		t.Errorf("index of dispersion %.3f, want ≈ 1 for Poisson", dispersion)
	}
	// Constant arrivals are the contrast: no dispersion at all.
	c := NewPacer(Constant, rate, time.Second, 0, 1, 0)
	a, _ := c.Due(1)
	b, _ := c.Due(2)
	if a != b-a {
		t.Errorf("constant gaps differ: %v then %v", a, b-a)
	}
}

func TestPacerAllocFree(t *testing.T) {
	p := NewPacer(Poisson, 1000, time.Hour, 0, 1, 1)
	var n uint64
	allocs := testing.AllocsPerRun(1000, func() {
		p.Due(n)
		n++
	})
	if allocs != 0 {
		t.Errorf("Poisson Due allocates %v times per call", allocs)
	}
}

// TestPaceAllocFree: the DNS loop asks Pace on every wait.
func TestPaceAllocFree(t *testing.T) {
	for _, a := range []Arrivals{Constant, Poisson} {
		p := NewPacer(a, 1000, time.Hour, 0, 1, 1)
		var n uint64
		allocs := testing.AllocsPerRun(1000, func() {
			p.Due(n)
			p.Pace(time.Duration(n)*time.Millisecond, n)
			n++
		})
		if allocs != 0 {
			t.Errorf("%s Pace allocates %v times per call", a, allocs)
		}
	}
}
