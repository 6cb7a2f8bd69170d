package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHTTPThreadsConfig: threads default to DefaultThreads, are bounded by
// MaxThreads and by the connections, and errors name the field and wrap
// ErrConfig.
func TestHTTPThreadsConfig(t *testing.T) {
	g, err := NewHTTP(HTTPConfig{URL: "http://127.0.0.1:8080/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Describe().Threads; got != 1 {
		t.Errorf("default threads for %d connections: %d, want 1", DefaultConnections, got)
	}
	// Left out, one thread per ConnsPerThread connections, as before
	// threads could be set.
	for conns, want := range map[int]int{1: 1, 256: 1, 257: 2, 1024: 4, MaxConnections: 16} {
		g, err := NewHTTP(HTTPConfig{URL: "http://127.0.0.1:8080/", Connections: conns})
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Describe().Threads; got != want {
			t.Errorf("%d connections: %d threads by default, want %d", conns, got, want)
		}
	}
	for _, tc := range []struct {
		conns, threads int
		want           string
	}{
		{4, -1, "threads -1: want 1 to 256"},
		{MaxConnections, MaxThreads + 1, "threads 257: want 1 to 256"},
		{4, 5, "threads 5: more than the 4 connections"},
	} {
		_, err := NewHTTP(HTTPConfig{URL: "http://127.0.0.1:8080/", Connections: tc.conns, Threads: tc.threads})
		if !errors.Is(err, ErrConfig) || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("connections %d threads %d: %v, want an ErrConfig saying %q", tc.conns, tc.threads, err, tc.want)
		}
	}
	d, err := NewDNS(DNSConfig{Server: "127.0.0.1:53", Sockets: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Describe().Threads; got != 3 {
		t.Errorf("dns threads %d, want one per socket (3)", got)
	}
}

// TestLaneShare: the connections are divided among the lanes, none lost,
// none with more than one above another.
func TestLaneShare(t *testing.T) {
	for _, tc := range []struct{ total, n int }{{1, 1}, {10, 3}, {4, 4}, {4096, 256}, {7, 2}} {
		sum, lo, hi := 0, tc.total, 0
		for i := 0; i < tc.n; i++ {
			s := laneShare(tc.total, i, tc.n)
			sum += s
			lo, hi = min(lo, s), max(hi, s)
		}
		if sum != tc.total || lo < 1 || hi-lo > 1 {
			t.Errorf("%d over %d lanes: sum %d, shares %d to %d", tc.total, tc.n, sum, lo, hi)
		}
	}
}

// TestHTTPLanesTakeTheirShare: lane i of n, on the event loop and on the
// fasthttp pool alike, has its share of the connections and schedule i of
// n (constant: the rate over n, phase-shifted by i/rate).
func TestHTTPLanesTakeTheirShare(t *testing.T) {
	g, err := NewHTTP(HTTPConfig{URL: "http://127.0.0.1:1/", Connections: 10, Threads: 3, NewConnection: true}) // no pre-connect
	if err != nil {
		t.Fatal(err)
	}
	spec := StepSpec{Rate: 3000, Duration: time.Second}
	for i, want := range []int{4, 3, 3} {
		l, err := g.openLoop(spec, i, 3, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := g.openPool(spec, i, 3)
		if len(l.conns) != want || len(p.workers) != want {
			t.Errorf("lane %d: %d loop connections, %d pool workers; want %d", i, len(l.conns), len(p.workers), want)
		}
		for name, pacer := range map[string]Pacer{"loop": l.pacer, "pool": p.pacer} {
			at0, _ := pacer.Due(0)
			at1, _ := pacer.Due(1)
			if wantAt := time.Duration(i) * time.Second / 3000; at0 != wantAt || at1-at0 != time.Millisecond {
				t.Errorf("%s lane %d: first send at %v, then every %v; want %v, every 1ms", name, i, at0, at1-at0, wantAt)
			}
		}
		l.close()
		p.close()
	}
}

// TestHTTPThreadsSameTotals: a bounded step against a server on loopback
// gives the same totals on 2 threads as on 1: the same schedule (the
// lanes' schedules make up the one schedule, sent or never sent), every
// send answered, and the merged histograms hold every answer.
func TestHTTPThreadsSameTotals(t *testing.T) {
	keepAlive := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go serveTinyHTTP(ln)
		return ln.Addr().String()
	}
	for _, tc := range []struct {
		name    string
		serve   func(*testing.T) string
		newConn bool
		pool    bool
	}{
		{"loop keep-alive", keepAlive, false, false},
		{"loop new-connection", serveRawCloseHTTP, true, false},
		{"pool keep-alive", keepAlive, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.serve(t)
			spec := StepSpec{Rate: 2000, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond}
			const want = 1000 // measured sends: rate × window
			var outs [2]StepOutcome
			for i, threads := range []int{1, 2} {
				g, err := NewHTTP(HTTPConfig{URL: "http://" + addr + "/", Connections: 8, Threads: threads, NewConnection: tc.newConn, ExpectBodySize: 2})
				if err != nil {
					t.Fatal(err)
				}
				run := g.RunStep
				if tc.pool {
					run = g.runPool
				} else if !g.useLoop() {
					t.Fatal("plain http does not take the event loop")
				}
				if outs[i], err = run(context.Background(), spec); err != nil {
					t.Fatal(err)
				}
				s := outs[i].Step
				t.Logf("threads %d: sent %d answered %d achieved %.1f/s p50 %.0f µs p99 %.0f µs errors %v valid %v %s",
					threads, s.Sent, s.Answered, s.AchievedRPS, s.LatencyUS.P50, s.LatencyUS.P99, s.Errors, s.Valid, s.InvalidReason)
				if due := s.Sent + s.NeverSent; due < want-1 || due > want+1 {
					t.Errorf("threads %d: sent %d + never sent %d, want the schedule's %d", threads, s.Sent, s.NeverSent, want)
				}
				if s.Answered < s.Sent*99/100 || len(s.Errors) != 0 {
					t.Errorf("threads %d: answered %d of %d, errors %v", threads, s.Answered, s.Sent, s.Errors)
				}
				if n := outs[i].Hist.Latency.TotalCount(); n != int64(s.Answered) {
					t.Errorf("threads %d: merged latency histogram holds %d samples, want the %d answers", threads, n, s.Answered)
				}
			}
		})
	}
}

// BenchmarkHTTPThreads runs keep-alive steps on the event loop, on 1 and
// 2 threads, against a server on loopback: one op is one scheduled
// request (a step holds b.N of them at benchRate, MinStep at least), so
// allocs/op is the hot path's plus the lanes' setup spread over the step.
// It reports the achieved rate, the latency p99, the share of answers and
// the process's CPU time per request (generator and test server alike:
// they share the process). ns/op is the schedule's 1/rate: open loop.
func BenchmarkHTTPThreads(b *testing.B) {
	const benchRate = 10000 // requests/s: well within one loop on loopback
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go serveTinyHTTP(ln)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads-%d", threads), func(b *testing.B) {
			g, err := NewHTTP(HTTPConfig{URL: "http://" + ln.Addr().String() + "/", Connections: 16, Threads: threads, ExpectBodySize: 2})
			if err != nil {
				b.Fatal(err)
			}
			window := max(MinStep, time.Duration(float64(b.N)/benchRate*float64(time.Second)))
			var before, after unix.Rusage
			b.ReportAllocs()
			b.ResetTimer()
			unix.Getrusage(unix.RUSAGE_SELF, &before)
			out, err := g.RunStep(context.Background(), StepSpec{Rate: benchRate, Duration: window})
			unix.Getrusage(unix.RUSAGE_SELF, &after)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			s := out.Step
			if s.Sent > 0 {
				cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(s.Sent), "cpu-ns/req")
			}
			b.ReportMetric(s.AchievedRPS, "answers/s")
			b.ReportMetric(s.LatencyUS.P99, "p99-µs")
			if s.Sent > 0 {
				b.ReportMetric(float64(s.Answered)/float64(s.Sent), "answered/sent")
			}
		})
	}
}
