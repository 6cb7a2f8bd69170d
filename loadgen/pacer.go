// Package loadgen holds ukbench's open-loop DNS and HTTP load generators and
// the rate sweeps that drive them (DESIGN.md rules 1–4).
//
// Every request has an intended send time taken from a schedule (a Pacer);
// latency is measured from that time, so a server that stalls cannot hide its
// stall by slowing the generator down (coordinated omission).
package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// A Pacer is a pure load schedule in the style of vegeta's Pacer.
//
// Pace returns how long to wait, from elapsed (time since the schedule
// started), before request number sent (0-based) is due. A zero wait means the
// request is due now or overdue. stop is true when the schedule has no
// request number sent.
//
// Due returns the intended send time of request n relative to the start, and
// false when the schedule has no request n.
//
// A Pacer is not safe for concurrent use; each sender owns its own.
type Pacer interface {
	Pace(elapsed time.Duration, sent uint64) (wait time.Duration, stop bool)
	Due(n uint64) (at time.Duration, ok bool)
}

// Arrivals names an inter-arrival distribution.
type Arrivals string

const (
	// Constant spaces requests evenly.
	Constant Arrivals = "constant"
	// Poisson draws exponential inter-arrival gaps, as independent users do.
	Poisson Arrivals = "poisson"
)

// ParseArrivals checks an --arrivals value.
func ParseArrivals(s string) (Arrivals, error) {
	switch Arrivals(s) {
	case Constant, Poisson:
		return Arrivals(s), nil
	}
	return "", fmt.Errorf("arrivals %q: want %q or %q", s, Constant, Poisson)
}

// NewPacer returns the schedule of one sender that carries share 1/of the
// total rate (requests per second) for length, as sender number index of of.
// Constant senders are phase-shifted so that together they send evenly; Poisson
// senders draw independent streams (the sum of independent Poisson processes
// is a Poisson process of the summed rate). seed makes Poisson schedules
// repeatable.
func NewPacer(a Arrivals, rate float64, length time.Duration, index, of int, seed uint64) Pacer {
	per := rate / float64(of)
	switch a {
	case Poisson:
		return &PoissonPacer{Rate: per, Length: length, Seed: seed + uint64(index)*0x9e3779b97f4a7c15}
	default:
		// Sender i sends at (i + k·of)/rate: the senders interleave.
		return ConstantPacer{Rate: per, Length: length, Offset: time.Duration(float64(index) / rate * 1e9)}
	}
}

// ConstantPacer sends at Rate requests per second, evenly spaced, starting at
// Offset and stopping before Length.
type ConstantPacer struct {
	Rate   float64       // requests per second; must be > 0
	Length time.Duration // the schedule holds requests due before Length
	Offset time.Duration // intended time of request 0
}

// Due implements Pacer.
func (p ConstantPacer) Due(n uint64) (time.Duration, bool) {
	if p.Rate <= 0 {
		return 0, false
	}
	at := p.Offset + time.Duration(float64(n)*1e9/p.Rate)
	return at, at < p.Length
}

// Pace implements Pacer.
func (p ConstantPacer) Pace(elapsed time.Duration, sent uint64) (time.Duration, bool) {
	at, ok := p.Due(sent)
	return paceAt(at, ok, elapsed)
}

// PoissonPacer sends with exponentially distributed gaps of mean 1/Rate.
// The schedule is a pure function of (Seed, n); it remembers the last request
// it computed so that sequential use, and asking for that request again,
// costs O(1) per request. Asking for an earlier request recomputes from the
// start.
type PoissonPacer struct {
	Rate   float64       // mean requests per second; must be > 0
	Length time.Duration // the schedule holds requests due before Length
	Seed   uint64

	rng    *rand.Rand
	pcg    *rand.PCG
	lastN  uint64
	lastAt float64 // seconds; the due time of request lastN-1, valid when rng != nil
}

// Due implements Pacer.
func (p *PoissonPacer) Due(n uint64) (time.Duration, bool) {
	if p.Rate <= 0 {
		return 0, false
	}
	if p.rng == nil || n+1 < p.lastN { // lastN-1 is the request lastAt holds
		if p.pcg == nil {
			p.pcg = rand.NewPCG(p.Seed, p.Seed^0x6a09e667f3bcc909)
			p.rng = rand.New(p.pcg)
		}
		p.pcg.Seed(p.Seed, p.Seed^0x6a09e667f3bcc909)
		p.lastN, p.lastAt = 0, 0
	}
	for p.lastN <= n {
		p.lastAt += p.rng.ExpFloat64() / p.Rate
		p.lastN++
	}
	at := time.Duration(math.Round(p.lastAt * 1e9))
	return at, at < p.Length
}

// Pace implements Pacer.
func (p *PoissonPacer) Pace(elapsed time.Duration, sent uint64) (time.Duration, bool) {
	at, ok := p.Due(sent)
	return paceAt(at, ok, elapsed)
}

// paceAt is Pace from Due's answer. (Not a function of a Pacer: passing a
// ConstantPacer as one would allocate.)
func paceAt(at time.Duration, ok bool, elapsed time.Duration) (time.Duration, bool) {
	if !ok {
		return 0, true
	}
	if at <= elapsed {
		return 0, false
	}
	return at - elapsed, false
}

// maxCountedDraws bounds the Poisson draws neverSent makes one by one (a
// millisecond or so per lane, and a step may have a thousand lanes); past
// them it adds the expected count of the rest of the schedule.
const maxCountedDraws = 1 << 16

// neverSent counts the requests of p's schedule from number n on that are
// due at or after from (the measured window's start): the sends a lane
// had not made when its schedule was cut at its deadline (SendGrace).
// For a constant schedule the count is exact; a Poisson schedule is drawn
// on for up to maxCountedDraws requests, and what is left after them is
// counted as its expectation (a rate far beyond any generator would take
// unbounded time to draw). It allocates nothing.
func neverSent(p Pacer, n uint64, from time.Duration) uint64 {
	switch p := p.(type) {
	case ConstantPacer:
		end := p.entriesBefore(p.Length)
		if end == maxCount {
			return maxCount
		}
		first := max(n, p.entriesBefore(from))
		if end <= first {
			return 0
		}
		return end - first
	case *PoissonPacer:
		var count uint64
		for i := uint64(0); i < maxCountedDraws; i++ {
			at, ok := p.Due(n + i)
			if !ok {
				return count
			}
			if at >= from {
				count++
			}
		}
		// p.lastAt is the due time, in seconds, of the last request drawn.
		rest := (p.Length.Seconds() - max(p.lastAt, from.Seconds())) * p.Rate
		if rest > 0 {
			count += uint64(math.Round(min(rest, maxCount)))
		}
		return count
	}
	var count uint64 // another Pacer: draw it
	for i := n; ; i++ {
		at, ok := p.Due(i)
		if !ok || i-n >= maxCountedDraws {
			return count
		}
		if at >= from {
			count++
		}
	}
}

// maxCount saturates the counts of neverSent: a schedule of more requests
// than this (a rate beyond 1e18/s) is counted as this many.
const maxCount = 1 << 62

// entriesBefore is how many of p's requests are due before t: the least k
// whose Due(k) is at or after t, at most maxCount.
func (p ConstantPacer) entriesBefore(t time.Duration) uint64 {
	if p.Rate <= 0 || t <= p.Offset {
		return 0
	}
	est := math.Floor(float64(t-p.Offset) * p.Rate / 1e9)
	if !(est < maxCount/2) {
		return maxCount
	}
	k := uint64(max(0, est))
	// Settle the float estimate against Due's own arithmetic.
	for k > 0 {
		if at, _ := p.Due(k - 1); at < t {
			break
		}
		k--
	}
	for ; k < maxCount; k++ {
		if at, _ := p.Due(k); at >= t {
			return k
		}
	}
	return maxCount
}
