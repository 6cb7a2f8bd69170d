package loadgen

import (
	"slices"
	"testing"
	"time"
)

// Two generators of two lanes each, at half the rate each, with lane
// shares 0–1 and 2–3 of 4: their merged constant schedule is evenly spaced
// at the global rate, as one generator of four lanes would send it.
func TestLaneShareMergesEvenly(t *testing.T) {
	const rate, length = 1000.0, 100 * time.Millisecond
	var due []time.Duration
	for _, s := range []LaneShare{{First: 0, Total: 4}, {First: 2, Total: 4}} {
		if err := s.check(2); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			p := s.pacer(Constant, rate/2, length, i, 2, 1)
			for n := uint64(0); ; n++ {
				at, ok := p.Due(n)
				if !ok {
					break
				}
				due = append(due, at)
			}
		}
	}
	slices.Sort(due)
	if len(due) != 100 {
		t.Fatalf("%d sends, want 100", len(due))
	}
	for i := 1; i < len(due); i++ {
		if gap := due[i] - due[i-1]; gap < time.Millisecond-time.Microsecond || gap > time.Millisecond+time.Microsecond {
			t.Fatalf("gap %d = %v, want 1ms", i, gap)
		}
	}
}

func TestLaneShareRefusesMisfit(t *testing.T) {
	for _, s := range []LaneShare{{First: 3, Total: 4}, {First: -1, Total: 4}, {First: 0, Total: 1}} {
		if err := s.check(2); err == nil {
			t.Errorf("share %+v of 2 lanes accepted", s)
		}
	}
}

// An HTTP generator's share counts its threads, as a DNS generator's
// counts its sockets.
func TestHTTPShareCountsThreads(t *testing.T) {
	ok := HTTPConfig{URL: "http://127.0.0.1:9/", Connections: 4, Threads: 2, Share: LaneShare{First: 2, Total: 4}}
	if _, err := NewHTTP(ok); err != nil {
		t.Errorf("threads 2 as lanes 2-3 of 4: %v", err)
	}
	bad := ok
	bad.Share.First = 3
	if _, err := NewHTTP(bad); err == nil {
		t.Errorf("threads 2 as lanes 3-4 of 4 accepted")
	}
}
