//go:build !race

// The allocation tests of the generators' hot paths. They do not exist
// under -race (the race detector allocates on its own); make test runs
// them without it, before the race-enabled suite.

package loadgen

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

// extraSent is how many more requests the long step sent than the short
// one: the divisor of allocations per request. Each step's schedule must
// be all accounted for (sent or never sent, the code's count), and the
// long step must have sent more than the short one. How much more is the
// host's business (with two busy loops per core a step may send only a
// part of its share); the per-request figure divides by what was sent.
func extraSent(t *testing.T, short, long StepOutcome, shortDue, longDue uint64) uint64 {
	t.Helper()
	for _, s := range []struct {
		name string
		out  StepOutcome
		due  uint64
	}{{"short", short, shortDue}, {"long", long, longDue}} {
		st := s.out.Step
		t.Logf("%s step: sent %d never sent %d answered %d errors %v", s.name, st.Sent, st.NeverSent, st.Answered, st.Errors)
		if st.Sent+st.NeverSent != s.due {
			t.Fatalf("%s step: sent %d + never sent %d, want the schedule's %d", s.name, st.Sent, st.NeverSent, s.due)
		}
	}
	if long.Step.Sent <= short.Step.Sent {
		t.Fatalf("sent %d and %d requests: the long step sent no more than the short one", short.Step.Sent, long.Step.Sent)
	}
	return long.Step.Sent - short.Step.Sent
}

// TestDNSHotPathAllocFree: the allocations of a step do not grow with the
// number of queries (setup only), and memory stays flat when the step is
// ten times longer.
func TestDNSHotPathAllocFree(t *testing.T) {
	g, err := NewDNS(DNSConfig{Server: startReflector(t), Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	shortM, shortB, short := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 250 * time.Millisecond})
	longM, longB, long := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 2500 * time.Millisecond})
	perQuery := float64(longM-min(longM, shortM)) / float64(extraSent(t, short, long, 1000, 10000))
	t.Logf("short step: %d mallocs %d B; 10× longer: %d mallocs %d B; %.4f mallocs per extra query", shortM, shortB, longM, longB, perQuery)
	if perQuery > 0.01 {
		t.Errorf("%.4f allocations per query in the hot path, want none (short %d, long %d mallocs)", perQuery, shortM, longM)
	}
	if longB > shortB*3/2+64<<10 {
		t.Errorf("a 10× longer step allocated %d B against %d B: memory grows with the step", longB, shortB)
	}
}

// TestDNSOverTCPHotPathAllocFree is TestDNSHotPathAllocFree for DNS over
// TCP.
func TestDNSOverTCPHotPathAllocFree(t *testing.T) {
	g, err := NewDNS(DNSConfig{Server: startTCPEcho(t), Transport: "tcp", Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	shortM, shortB, short := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 250 * time.Millisecond})
	longM, longB, long := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 2500 * time.Millisecond})
	perQuery := float64(longM-min(longM, shortM)) / float64(extraSent(t, short, long, 1000, 10000))
	t.Logf("short step: %d mallocs %d B; 10× longer: %d mallocs %d B; %.4f mallocs per extra query", shortM, shortB, longM, longB, perQuery)
	if perQuery > 0.01 {
		t.Errorf("%.4f allocations per query in the hot path, want none (short %d, long %d mallocs)", perQuery, shortM, longM)
	}
	if longB > shortB*3/2+64<<10 {
		t.Errorf("a 10× longer step allocated %d B against %d B: memory grows with the step", longB, shortB)
	}
}

// TestHTTPWorkerAllocs: the HTTP event loop allocates nothing per
// request, keep-alive or a new connection per request, on one thread or
// on two (the lanes' setup only).
func TestHTTPWorkerAllocs(t *testing.T) {
	for _, tc := range []struct {
		newConn bool
		threads int
	}{{false, 1}, {true, 1}, {false, 2}, {true, 2}} {
		newConn := tc.newConn
		name := "keep-alive"
		if newConn {
			name = "new-connection"
		}
		name = fmt.Sprintf("%s/threads-%d", name, tc.threads)
		t.Run(name, func(t *testing.T) {
			var addr string
			if newConn {
				addr = serveRawCloseHTTP(t)
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				go serveTinyHTTP(ln)
				addr = ln.Addr().String()
			}
			g, err := NewHTTP(HTTPConfig{URL: "http://" + addr + "/", Connections: 2 * tc.threads, Threads: tc.threads, NewConnection: newConn})
			if err != nil {
				t.Fatal(err)
			}
			run := func(d time.Duration) (uint64, StepOutcome) {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				out, err := g.RunStep(context.Background(), StepSpec{Rate: 2000, Duration: d})
				if err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				return after.Mallocs - before.Mallocs, out
			}
			shortM, short := run(250 * time.Millisecond)
			longM, long := run(2500 * time.Millisecond)
			perReq := float64(longM-min(longM, shortM)) / float64(extraSent(t, short, long, 500, 5000))
			t.Logf("http %s: %.4f mallocs per extra request (short %d, long %d)", name, perReq, shortM, longM)
			if perReq > 0.05 {
				t.Errorf("%.4f allocations per %s request, want none", perReq, name)
			}
		})
	}
}
