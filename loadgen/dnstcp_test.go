package loadgen_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/targets/servers"
)

// DNS over TCP against `ukbench serve dns` and against test servers that
// reorder answers and close connections.

func tcpDNS(addr string, sockets int) loadgen.DNSConfig {
	return loadgen.DNSConfig{Server: addr, Transport: "tcp", Sockets: sockets}
}

func TestDNSOverTCPAchievedRateMatchesOffered(t *testing.T) {
	addr := startDNS(t, servers.Faults{})
	g, err := loadgen.NewDNS(tcpDNS(addr, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Describe().Transport; got != "tcp" {
		t.Errorf("run record transport %q, want tcp", got)
	}
	out := runDNS(t, tcpDNS(addr, 2), loadgen.StepSpec{Rate: 2000, Warmup: 500 * time.Millisecond, Duration: 3 * time.Second})
	s := out.Step
	if s.Sent+s.NeverSent != 6000 {
		t.Errorf("sent %d + never sent %d in the measured window, want the schedule's 6000", s.Sent, s.NeverSent)
	}
	// What reached the server is the schedule less what was never sent
	// (a busy host's share, counted above); of that, a loopback server
	// answers all but what waited over the 2 s timeout.
	if s.AchievedRPS != float64(s.Answered)/3 || s.Answered > s.Sent || float64(s.Answered) < 0.99*float64(s.Sent) {
		t.Errorf("achieved %.1f/s from %d answers to %d sends in 3 s, want answers/3 s and ≥ 99%% answered; errors %v", s.AchievedRPS, s.Answered, s.Sent, s.Errors)
	}
	if s.Codes["NOERROR"] != s.Answered || len(s.Errors) != 0 {
		t.Errorf("codes %v errors %v, want every answer NOERROR", s.Codes, s.Errors)
	}
	if s.LatencyUS.P50 <= 0 || s.LatencyUS.P50 > s.LatencyUS.P99 || s.LatencyUS.P99 > s.LatencyUS.Max {
		t.Errorf("latency percentiles out of order: %+v", s.LatencyUS)
	}
}

// The server answers a connection's queries one after another, so each
// connection carries at most 1/delay queries a second: 40/s on 4
// connections with a 20 ms delay keeps each a fifth busy. The margin is
// TestDNSFixedDelayShowsInMedian's.
func TestDNSOverTCPFixedDelayShowsInMedian(t *testing.T) {
	const delay, margin = 20 * time.Millisecond, 10 * time.Millisecond
	addr := startDNS(t, servers.Faults{Delay: delay})
	out := runDNS(t, tcpDNS(addr, 4), loadgen.StepSpec{Rate: 40, Warmup: 300 * time.Millisecond, Duration: 2 * time.Second})
	p50 := time.Duration(out.Step.LatencyUS.P50) * time.Microsecond
	if p50 < delay || p50 > delay+margin {
		t.Errorf("p50 %v with a %v server delay, want within [%v, %v]", p50, delay, delay, delay+margin)
	}
}

func TestDNSOverTCPDropOneInTenIsTenPercentLoss(t *testing.T) {
	addr := startDNS(t, servers.Faults{DropEvery: 10})
	cfg := tcpDNS(addr, 2)
	cfg.Timeout = 300 * time.Millisecond
	out := runDNS(t, cfg, loadgen.StepSpec{Rate: 2000, Warmup: 200 * time.Millisecond, Duration: 2 * time.Second})
	loss := out.Step.LossFraction()
	if loss < 0.095 || loss > 0.105 {
		t.Errorf("loss %.4f with 1 query in 10 dropped, want 0.10 ± 0.005 (errors %v)", loss, out.Step.Errors)
	}
	if got, want := out.Step.Errors["timeout"], out.Step.Sent-out.Step.Answered; got != want {
		t.Errorf("timeouts %d, want every lost query (%d) counted as a timeout", got, want)
	}
}

// tcpReflector is how startTCPReflector's "server" misbehaves.
type tcpReflector struct {
	swap       bool // answer each pair of queries in reverse order (RFC 7766 allows any order)
	closeAfter int  // close a connection after answering this many queries (0: never)
	// Before reading query number pauseAt (counted from 1), stop reading
	// for pause.
	pauseAt int
	pause   time.Duration
}

// startTCPReflector is a DNS-over-TCP "server" that answers each query
// with itself, QR bit set, misbehaving as r says. It counts the
// connections it accepted.
func startTCPReflector(t *testing.T, r tcpReflector) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				var held []byte
				for n := 1; r.closeAfter == 0 || n <= r.closeAfter; n++ {
					if n == r.pauseAt {
						time.Sleep(r.pause) // the fault being tested, not a wait for readiness
					}
					var size [2]byte
					if _, err := io.ReadFull(c, size[:]); err != nil {
						return
					}
					frame := make([]byte, 2+binary.BigEndian.Uint16(size[:]))
					copy(frame, size[:])
					if _, err := io.ReadFull(c, frame[2:]); err != nil {
						return
					}
					frame[4] |= 0x80
					switch {
					case !r.swap:
						if _, err := c.Write(frame); err != nil {
							return
						}
					case held == nil:
						held = frame
					default:
						c.Write(append(frame, held...))
						held = nil
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), &conns
}

func TestDNSOverTCPAnswersOutOfOrder(t *testing.T) {
	addr, _ := startTCPReflector(t, tcpReflector{swap: true})
	out := runDNS(t, tcpDNS(addr, 1), loadgen.StepSpec{Rate: 1000, Duration: time.Second})
	s := out.Step
	// Each odd query waits for the next one: the last may be left over.
	if s.Answered+1 < s.Sent || len(s.Errors) > 1 || s.Errors["mismatch"] != 0 {
		t.Errorf("answered %d of %d with answers in swapped pairs; errors %v", s.Answered, s.Sent, s.Errors)
	}
	// Half the answers wait a whole 1 ms interval for their pair (the
	// other half hardly at all, but on a loaded machine that half's
	// latency is not predictable enough to bound).
	if s.LatencyUS.P90 < 900 || s.LatencyUS.Mean < 400 {
		t.Errorf("p90 %.0f µs, mean %.0f µs: want p90 ≥ 900 and a mean ≥ 400 (half the answers held 1 ms)", s.LatencyUS.P90, s.LatencyUS.Mean)
	}
}

func TestDNSOverTCPReconnectsWhenTheServerCloses(t *testing.T) {
	addr, conns := startTCPReflector(t, tcpReflector{closeAfter: 50})
	cfg := tcpDNS(addr, 1)
	cfg.Timeout = 300 * time.Millisecond
	out := runDNS(t, cfg, loadgen.StepSpec{Rate: 1000, Duration: time.Second})
	s := out.Step
	if n := conns.Load(); n < 19 {
		t.Errorf("%d connections for 1000 queries with the server closing after 50, want ≥ 20 (errors %v)", n, s.Errors)
	}
	if s.Answered < s.Sent*95/100 {
		t.Errorf("answered %d of %d: reconnecting lost too many (errors %v)", s.Answered, s.Sent, s.Errors)
	}
	var lost uint64
	for _, n := range s.Errors {
		lost += n
	}
	if s.Answered+lost != s.Sent {
		t.Errorf("answered %d + errors %v ≠ sent %d: a query is unaccounted for", s.Answered, s.Errors, s.Sent)
	}
}

// TestDNSOverTCPSlowReaderLosesNothing: the server stops reading for
// 300 ms while the generator's send buffer is small, so batches wait to be
// written while the answers to their first queries already come back.
// Every query must still be answered and matched, and the sends that
// waited counted late.
func TestDNSOverTCPSlowReaderLosesNothing(t *testing.T) {
	addr, _ := startTCPReflector(t, tcpReflector{pauseAt: 500, pause: 300 * time.Millisecond})
	g, err := loadgen.NewDNS(tcpDNS(addr, 1))
	if err != nil {
		t.Fatal(err)
	}
	loadgen.SetTCPSendBuffer(g, 4096)
	out, err := g.RunStep(context.Background(), loadgen.StepSpec{Rate: 20000, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Step
	if s.Answered != s.Sent || len(s.Errors) != 0 {
		t.Errorf("answered %d of %d, errors %v: want every query answered and matched", s.Answered, s.Sent, s.Errors)
	}
	if s.Lag.LateSends == 0 || s.Lag.MaxLateUS < 100_000 {
		t.Errorf("lag %+v: sends that waited out a 300 ms pause must count late", s.Lag)
	}
	// The wait was the server's back-pressure: blocked, not the
	// generator's own send delay.
	if s.Lag.LateBlocked == 0 || s.SendDelayUS.Max >= 100_000 {
		t.Errorf("lag %+v, send delay %+v: the sends that waited on the server's reads must be blocked, not the generator's delay", s.Lag, s.SendDelayUS)
	}
}

func TestDNSOverTCPUnreachableIsLossNotHang(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := tcpDNS(addr, 2)
	cfg.Timeout = 200 * time.Millisecond
	begin := time.Now()
	out := runDNS(t, cfg, loadgen.StepSpec{Rate: 500, Duration: 500 * time.Millisecond})
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("step took %v against a closed port, want about 0.7 s", took)
	}
	if out.Step.Sent == 0 || out.Step.Answered != 0 || out.Step.Errors["connect"] != out.Step.Sent {
		t.Errorf("sent %d answered %d errors %v, want every query a connect error", out.Step.Sent, out.Step.Answered, out.Step.Errors)
	}
}

func TestDNSOverTCPCancelStopsPromptly(t *testing.T) {
	addr := startDNS(t, servers.Faults{StallFor: 5 * time.Second})
	g, err := loadgen.NewDNS(tcpDNS(addr, 2))
	if err != nil {
		t.Fatal(err)
	}
	stopsPromptly(t, g)
}

func TestDNSTransportMustBeUDPOrTCP(t *testing.T) {
	_, err := loadgen.NewDNS(loadgen.DNSConfig{Server: "127.0.0.1:53", Transport: "quic"})
	if err == nil || !strings.Contains(err.Error(), `transport "quic": want udp or tcp`) {
		t.Errorf("err = %v, want it to name the transport and the choices", err)
	}
}
