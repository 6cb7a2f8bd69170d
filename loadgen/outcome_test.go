package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/results"
)

// Issue 14, items 5, 6 and 8: a step ends at its deadline whatever was
// due, counts what never left, and gives every request it sent exactly
// one outcome. Every step here is bounded in count and time, on loopback.

// outcomes is the sum of a step's request outcomes: good answers and
// every error kind that ends a request (a late answer is not one: its
// request has already timed out).
func outcomes(s results.Step) uint64 {
	n := s.Answered
	for k, c := range s.Errors {
		if k != "late_answer" {
			n += c
		}
	}
	return n
}

// timed runs f and fails the test when it takes longer than limit.
func timed(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if d := time.Since(start); d > limit {
		t.Errorf("took %v, want at most %v", d, limit)
	}
}

func TestNeverSentCountsTheRestOfTheSchedule(t *testing.T) {
	count := func(p Pacer, n uint64, from time.Duration) (c uint64) {
		for i := n; ; i++ {
			at, ok := p.Due(i)
			if !ok {
				return c
			}
			if at >= from {
				c++
			}
		}
	}
	for _, tt := range []struct {
		name string
		p    func() Pacer
	}{
		{"constant", func() Pacer { return NewPacer(Constant, 997, 3*time.Second, 1, 3, 0) }},
		{"constant one sender", func() Pacer { return NewPacer(Constant, 1000, time.Second, 0, 1, 0) }},
		{"poisson", func() Pacer { return NewPacer(Poisson, 997, 3*time.Second, 1, 3, 7) }},
	} {
		for _, n := range []uint64{0, 1, 100, 500, 999, 5000} {
			for _, from := range []time.Duration{0, time.Second, 2500 * time.Millisecond} {
				want := count(tt.p(), n, from)
				if got := neverSent(tt.p(), n, from); got != want {
					t.Errorf("%s: neverSent(n=%d, from=%v) = %d, want %d", tt.name, n, from, got, want)
				}
			}
		}
	}
	// Past 1e18/s the count saturates.
	for _, a := range []Arrivals{Constant, Poisson} {
		timed(t, 5*time.Second, func() {
			if got := neverSent(NewPacer(a, 1e300, 3*time.Second, 0, 1, 1), 0, time.Second); got != maxCount {
				t.Errorf("%s at 1e300/s: %d never sent, want the saturated %d", a, got, uint64(maxCount))
			}
		})
	}
	// A rate no generator can send is counted without drawing it whole.
	for _, a := range []Arrivals{Constant, Poisson} {
		timed(t, 5*time.Second, func() {
			got := neverSent(NewPacer(a, 1e12, 3*time.Second, 0, 1, 1), 0, time.Second)
			if want := 2e12; float64(got) < want*0.99 || float64(got) > want*1.01 {
				t.Errorf("%s at 1e12/s: %d never sent in the 2 s window, want about %.0f", a, got, want)
			}
		})
	}
}

func TestStepShorterThanMinStepIsRefused(t *testing.T) {
	g, err := NewDNS(DNSConfig{Server: "127.0.0.1:53"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Nanosecond, MinStep - 1} {
		if _, err := g.RunStep(context.Background(), StepSpec{Rate: 100, Duration: d}); !errors.Is(err, ErrConfig) {
			t.Errorf("RunStep with a %v step: err %v, want ErrConfig", d, err)
		}
		if _, err := Sweep(context.Background(), g, SweepConfig{Rates: []float64{100}, Step: d}); !errors.Is(err, ErrConfig) {
			t.Errorf("Sweep with a %v step: err %v, want ErrConfig", d, err)
		}
		if err := CheckStepLength(d); !errors.Is(err, ErrConfig) {
			t.Errorf("CheckStepLength(%v) = %v, want ErrConfig", d, err)
		}
	}
	if err := CheckStepLength(MinStep); err != nil {
		t.Errorf("CheckStepLength(MinStep) = %v", err)
	}
	for _, r := range [][]float64{nil, {0}, {-1}, {100, 0}} {
		if err := (SweepConfig{Rates: r, Step: time.Second}).Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("rates %v: Validate() = %v, want ErrConfig", r, err)
		}
	}
}

// checkUndelivered: the step ended near its deadline, counted sends that
// never left, and is invalid for it.
func checkUndelivered(t *testing.T, s results.Step) {
	t.Helper()
	if s.NeverSent == 0 || s.Valid || !strings.Contains(s.InvalidReason, "never left") {
		t.Errorf("sent %d, never sent %d, valid %v (%q): want sends never sent and an invalid step",
			s.Sent, s.NeverSent, s.Valid, s.InvalidReason)
	}
	if outcomes(s) != s.Sent {
		t.Errorf("sent %d, outcomes %d (answered %d, errors %v): want one per sent request", s.Sent, outcomes(s), s.Answered, s.Errors)
	}
}

// heapGrowth runs f and returns how much the live heap grew meanwhile,
// sampled every 20 ms (the peak, not the end).
func heapGrowth(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	peak := base
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	for {
		select {
		case <-done:
			return peak - base
		case <-time.After(20 * time.Millisecond):
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
}

func TestDNSUnsendableRateEndsAtItsDeadline(t *testing.T) {
	addrs := map[string]string{TransportUDP: startReflector(t), TransportTCP: startTCPEcho(t)}
	for _, tr := range []string{TransportUDP, TransportTCP} {
		addr := addrs[tr]
		for _, a := range []Arrivals{Constant, Poisson} {
			g, err := NewDNS(DNSConfig{Server: addr, Transport: tr, Sockets: 1, Timeout: 200 * time.Millisecond, Arrivals: a})
			if err != nil {
				t.Fatal(err)
			}
			for _, rate := range []float64{1e7, 1e9, 1e12} {
				if tr == TransportTCP && rate == 1e7 {
					continue // pipelined TCP can just about send that, late, on loopback
				}
				var out StepOutcome
				grew := heapGrowth(func() {
					// Cut at 100+200 ms + SendGrace, then at most a
					// timeout of draining.
					timed(t, 3*time.Second, func() {
						out, err = g.RunStep(context.Background(), StepSpec{Rate: rate, Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
					})
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s %s %.0e/s: sent %d never sent %d, heap grew %d KiB", tr, a, rate, out.Step.Sent, out.Step.NeverSent, grew>>10)
				checkUndelivered(t, out.Step)
				if grew > 16<<20 {
					t.Errorf("%s %s %.0e/s: the heap grew %d MiB during the step, want it bounded", tr, a, rate, grew>>20)
				}
			}
		}
	}
}

// serveSilentHTTP reads requests and never answers.
func serveSilentHTTP(ln net.Listener) {
	serveEach(ln, func(c net.Conn) { io.Copy(io.Discard, c) })
}

// serveStatusHTTP answers every request with status line st and no body.
func serveStatusHTTP(st string) func(net.Listener) {
	return func(ln net.Listener) {
		serveEach(ln, func(c net.Conn) {
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					if _, err := io.WriteString(c, st+"\r\nContent-Length: 0\r\n\r\n"); err != nil {
						return
					}
				}
			}
		})
	}
}

// httpBoth runs one step of cfg against serve on the event loop and on
// the fasthttp pool.
func httpBoth(t *testing.T, serve func(net.Listener), cfg HTTPConfig, spec StepSpec, check func(t *testing.T, path string, s results.Step)) {
	t.Helper()
	g := poolAgainst(t, serve, cfg)
	for _, path := range []string{"loop", "pool"} {
		var out StepOutcome
		var err error
		limit := spec.Warmup + spec.Duration + SendGrace + cfg.Timeout + 2*time.Second
		timed(t, limit, func() {
			if path == "loop" {
				out, err = g.runLoops(context.Background(), spec)
			} else {
				out, err = g.runPool(context.Background(), spec)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, path, out.Step)
	}
}

// TestHTTPStatusOutsideRFCIsMalformed: a status outside 100-599, or a
// response that does not parse at all, is malformed on both HTTP paths.
func TestHTTPStatusOutsideRFCIsMalformed(t *testing.T) {
	for _, st := range []string{"HTTP/1.1 600 Beyond", "HTTP/1.1 999 Beyond", "HTTP/1.1 099 Below", "garbage", "HTTP/1.1 2x0 OK"} {
		httpBoth(t, serveStatusHTTP(st), HTTPConfig{Connections: 2, Timeout: 300 * time.Millisecond},
			StepSpec{Rate: 100, Duration: 500 * time.Millisecond}, func(t *testing.T, path string, s results.Step) {
				if s.Sent+s.NeverSent != 50 || s.Answered != 0 || s.Errors["malformed"] != s.Sent || outcomes(s) != s.Sent {
					t.Errorf("%s, %q: sent %d + never sent %d answered %d errors %v codes %v; want the schedule's 50, each sent malformed",
						path, st, s.Sent, s.NeverSent, s.Answered, s.Errors, s.Codes)
				}
			})
	}
}

func TestHTTPSilentServerEveryRequestHasAnOutcome(t *testing.T) {
	// 4 connections held 200 ms each carry 20/s of the 200/s due: most
	// sends wait, then never leave.
	httpBoth(t, serveSilentHTTP, HTTPConfig{Connections: 4, Timeout: 200 * time.Millisecond},
		StepSpec{Rate: 200, Duration: time.Second}, func(t *testing.T, path string, s results.Step) {
			t.Logf("%s: sent %d never sent %d errors %v", path, s.Sent, s.NeverSent, s.Errors)
			if s.Sent+s.NeverSent != 200 {
				t.Errorf("%s: sent %d + never sent %d = %d, want the 200 due", path, s.Sent, s.NeverSent, s.Sent+s.NeverSent)
			}
			if s.Answered != 0 || s.Errors["timeout"] != s.Sent || outcomes(s) != s.Sent {
				t.Errorf("%s: sent %d answered %d errors %v; want every sent request timed out", path, s.Sent, s.Answered, s.Errors)
			}
			checkUndelivered(t, s)
		})
}

func TestHTTPUnsendableRateEndsAtItsDeadline(t *testing.T) {
	httpBoth(t, serveTinyHTTP, HTTPConfig{Connections: 4, Timeout: 200 * time.Millisecond},
		StepSpec{Rate: 1e9, Duration: 200 * time.Millisecond}, func(t *testing.T, path string, s results.Step) {
			checkUndelivered(t, s)
		})
}

// startCutDNS answers each query with an A record, then cuts the answer
// by cut bytes (0: whole) or, with extra, appends bytes after it.
func startCutDNS(t *testing.T, cut int, extra []byte) string {
	t.Helper()
	return startUDPServer(t, func(c *net.UDPConn, from netip.AddrPort, _ int, b []byte) {
		var q dns.Msg
		if q.Unpack(b) != nil {
			return
		}
		var m dns.Msg
		m.SetReply(&q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.1")
		m.Answer = append(m.Answer, rr)
		out, err := m.Pack()
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort(append(out[:len(out)-cut], extra...), from)
	})
}

func TestDNSAnswerThatDoesNotParseWholeIsMalformed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cut   int
		extra []byte
		good  bool
	}{
		{"whole", 0, nil, true},
		{"cut inside the answer's RDATA", 2, nil, false},
		{"cut inside the answer's header", 8, nil, false},
		{"bytes after the last record", 0, []byte{0, 0, 0}, false},
	} {
		addr := startCutDNS(t, tt.cut, tt.extra)
		g, err := NewDNS(DNSConfig{Server: addr, Sockets: 1, Timeout: 200 * time.Millisecond,
			Queries: []DNSQuery{{Name: "www.example.com.", Type: dns.TypeA}}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := g.RunStep(context.Background(), StepSpec{Rate: 200, Duration: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s := out.Step
		if outcomes(s) != s.Sent || s.Sent+s.NeverSent != 100 {
			t.Errorf("%s: sent %d + never sent %d, outcomes %d (answered %d, errors %v): want the schedule's 100, one outcome each", tt.name, s.Sent, s.NeverSent, outcomes(s), s.Answered, s.Errors)
		}
		if tt.good && s.Answered != s.Sent || !tt.good && (s.Answered != 0 || s.Errors["malformed"] != s.Sent) {
			t.Errorf("%s: sent %d answered %d errors %v codes %v; want all %s", tt.name, s.Sent, s.Answered, s.Errors, s.Codes,
				map[bool]string{true: "answered", false: "malformed"}[tt.good])
		}
	}
}

func TestDNSWholeAllocFree(t *testing.T) {
	var m dns.Msg
	m.SetQuestion("www.example.com.", dns.TypeA)
	rr, _ := dns.NewRR("www.example.com. 60 IN A 192.0.2.1")
	m.Answer = append(m.Answer, rr)
	b, _ := m.Pack()
	if a := testing.AllocsPerRun(100, func() { dnsWhole(b) }); a != 0 {
		t.Errorf("dnsWhole allocates %v times", a)
	}
}

// startTruncatingDNS answers every query with the TC bit and rcode.
func startTruncatingDNS(t *testing.T, rcode int) string {
	t.Helper()
	return startUDPServer(t, func(c *net.UDPConn, from netip.AddrPort, _ int, q []byte) {
		q[2] |= 0x80 | 0x02 // QR, TC
		q[3] = q[3]&0xf0 | byte(rcode)
		c.WriteToUDPAddrPort(q, from)
	})
}

func TestDNSTruncatedAnswerIsOneOutcome(t *testing.T) {
	for _, rcode := range []int{dns.RcodeSuccess, dns.RcodeServerFailure} {
		g, err := NewDNS(DNSConfig{Server: startTruncatingDNS(t, rcode), Sockets: 1, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		out, err := g.RunStep(context.Background(), StepSpec{Rate: 200, Duration: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s := out.Step
		if s.Sent+s.NeverSent != 100 || s.Errors["truncated"] != s.Sent || outcomes(s) != s.Sent || s.Codes[dns.RcodeToString[rcode]] != s.Sent {
			t.Errorf("rcode %s: sent %d, errors %v, codes %v: want every answer one truncated outcome, its rcode a code",
				dns.RcodeToString[rcode], s.Sent, s.Errors, s.Codes)
		}
	}
}

func TestNeverSentAllocFree(t *testing.T) {
	for _, a := range []Arrivals{Constant, Poisson} {
		p := NewPacer(a, 1e6, time.Second, 0, 1, 1)
		p.Due(0)
		if n := testing.AllocsPerRun(10, func() { neverSent(p, 100, 0) }); n != 0 {
			t.Errorf("%s: neverSent allocates %v times", a, n)
		}
	}
}
