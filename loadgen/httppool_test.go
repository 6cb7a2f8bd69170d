package loadgen

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// The fasthttp path is what https takes; these tests drive it over plain
// http, which would otherwise take the event loop.

// poolAgainst starts serve on a local port and returns a generator of
// cfg aimed at it.
func poolAgainst(t *testing.T, serve func(net.Listener), cfg HTTPConfig) *HTTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serve(ln)
	cfg.URL = "http://" + ln.Addr().String() + "/"
	g, err := NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestHTTPPoolAnswersEveryRequest(t *testing.T) {
	g := poolAgainst(t, serveTinyHTTP, HTTPConfig{Connections: 4, ExpectBodySize: 2})
	out, err := g.runPool(context.Background(), StepSpec{Rate: 500, Warmup: 200 * time.Millisecond, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.Step; s.Sent+s.NeverSent != 250 || s.Answered != s.Sent || s.Codes["200"] != s.Sent || len(s.Errors) != 0 {
		t.Errorf("sent %d + never sent %d answered %d codes %v errors %v; want the schedule's 250, every one sent answered 200", s.Sent, s.NeverSent, s.Answered, s.Codes, s.Errors)
	}
	if n := out.Hist.Latency.TotalCount(); n != int64(out.Step.Answered) {
		t.Errorf("latency histogram holds %d samples, want the %d answers", n, out.Step.Answered)
	}
}

func TestHTTPPoolCancelStopsPromptlyDespiteAStalledServer(t *testing.T) {
	stall := func(ln net.Listener) { serveEach(ln, func(c net.Conn) { io.Copy(io.Discard, c) }) } // reads, never answers
	g := poolAgainst(t, stall, HTTPConfig{Connections: 4, Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	begin := time.Now()
	_, err := g.runPool(ctx, StepSpec{Rate: 100, Duration: time.Minute})
	if !IsInterrupted(err) {
		t.Errorf("err = %v, want an interruption", err)
	}
	// It stops at once; the bound is what a busy host may add, and well
	// short of the 10 s timeout a pool waiting on its requests would take.
	if took := time.Since(begin); took > 3300*time.Millisecond {
		t.Errorf("cancelled step returned after %v, want within 3 s of the cancel", took)
	}
}
