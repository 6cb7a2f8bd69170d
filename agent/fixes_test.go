package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// A step given up on (its ctx cancelled: Ctrl-C), then Close: the agent
// stops its step at once and Close returns fast, instead of the agent
// loading the server until its step would have ended.
func TestCancelledStepThenCloseEndsAgent(t *testing.T) {
	addr := startDNS(t)
	l := &pipeLauncher{}
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), Agents: []Spec{{Name: "a1", Launcher: l}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if _, err := r.RunStep(ctx, loadgen.StepSpec{Rate: 200, Duration: time.Minute}); err == nil {
		t.Fatal("cancelled step: nil error")
	}
	began := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close still waiting 2 s after a cancelled step: the agent runs on")
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("Close took %v, want under 1 s", d)
	}
	select {
	case <-l.serveOK:
	case <-time.After(time.Second):
		t.Fatal("agent still serving 1 s after Close")
	}
}

// Serve stops a running step on bye and answers it at once, its stdin
// still open.
func TestServeByeMidStep(t *testing.T) {
	// A server that says when the first query of the step reached it:
	// the step is under way.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	queried := make(chan struct{})
	var once sync.Once
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		once.Do(func() { close(queried) })
		m := new(dns.Msg)
		m.SetReply(q)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	addr := pc.LocalAddr().String()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- Serve(context.Background(), inR, outW, ServeOptions{}); outW.Close() }()
	defer inW.Close()
	s, err := newSession(context.Background(), "a", pipeConn{Reader: outR, WriteCloser: inW, closeR: outR.Close})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.prepare(context.Background(), prepare{DNS: dnsConfig(addr)}); err != nil {
		t.Fatal(err)
	}
	if err := s.start(start{Rate: 100, DurationNS: int64(time.Minute), At: time.Now().UnixNano()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-queried:
	case <-time.After(5 * time.Second):
		t.Fatal("no query reached the server within 5 s of the step's start")
	}
	if err := s.w.send(message{Type: typeBye}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.expect(context.Background(), typeBye, time.Second); err != nil {
		t.Fatalf("bye mid-step: %v, want bye within 1 s", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v after bye, want nil", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Serve still running 1 s after bye mid-step")
	}
}

// injectLauncher launches in-process agents; on its first launch it
// makes the agent's answer to the first start be preceded by a stray
// message (a protocol error in the step), the true result following.
type injectLauncher struct {
	pipeLauncher
	launches int
}

func (l *injectLauncher) Launch(ctx context.Context) (Launched, error) {
	c, err := l.pipeLauncher.Launch(ctx)
	if err != nil {
		return c, err
	}
	l.launches++
	if l.launches > 1 {
		return c, nil
	}
	agent := c.Conn
	mr, mw := io.Pipe()
	ic := &injectConn{agent: agent, r: mr, w: mw}
	go func() { // agent's stdout, line by line, to mr
		sc := bufio.NewScanner(agent)
		sc.Buffer(nil, maxMessage)
		for sc.Scan() {
			ic.mu.Lock()
			_, err := mw.Write(append(sc.Bytes(), '\n'))
			ic.mu.Unlock()
			if err != nil {
				return
			}
		}
		mw.Close()
	}()
	c.Conn = ic
	return c, nil
}

type injectConn struct {
	agent io.ReadWriteCloser
	r     *io.PipeReader
	w     *io.PipeWriter
	mu    sync.Mutex
	done  bool
}

func (c *injectConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c *injectConn) Write(b []byte) (int, error) {
	if !c.done && bytes.Contains(b, []byte(`"type":"start"`)) {
		c.done = true
		go func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.w.Write([]byte(`{"type":"ready","ready":{"load":{}}}` + "\n"))
		}()
	}
	return c.agent.Write(b)
}
func (c *injectConn) Close() error { c.r.Close(); return c.agent.Close() }

// An agent whose step went wrong (here a message out of turn, its true
// result coming after) fails that step only: its session is ended and
// the next step runs on a new one, not one message out of step.
func TestErroredSessionRelaunched(t *testing.T) {
	addr := startDNS(t)
	l := &injectLauncher{}
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), Agents: []Spec{{Name: "a1", Launcher: l}, {Name: "a2", Launcher: &pipeLauncher{}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := loadgen.StepSpec{Rate: 400, Duration: 300 * time.Millisecond}
	o, err := r.RunStep(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(o.Step.InvalidReason, "agent a1 gave no result") {
		t.Fatalf("first step %q: want a1's protocol error", o.Step.InvalidReason)
	}
	for i := range 2 {
		o, err = r.RunStep(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(o.Step.InvalidReason, "no result") {
			t.Errorf("step %d after the error: %q, want both agents' results", i+2, o.Step.InvalidReason)
		}
	}
	if l.launches != 2 {
		t.Errorf("a1 launched %d times, want 2 (once again after its error)", l.launches)
	}
}

// TestMergeJudgesEveryShare gives merge recorded shares whose verdicts are
// known: agents that kept their schedules merge into a valid step; an
// agent that did not, or gave no result, makes it invalid, and the reason
// names that agent and no other; a merged schedule that the agents each
// kept but whose merged gaps are bursts is judged on the merge.
func TestMergeJudgesEveryShare(t *testing.T) {
	// rec holds n sends whose actual gaps are the intended 5 ms, or
	// about 0 (the sends left together) when burst is set.
	rec := func(n int, burst bool) *loadgen.Recorder {
		r := loadgen.NewRecorder()
		for range n {
			r.Latency.RecordValue(200)
			r.Service.RecordValue(200)
			r.SendDelay.RecordValue(5)
			r.GapIntended.RecordValue(5e6)
			if burst {
				r.GapActual.RecordValue(1)
			} else {
				r.GapActual.RecordValue(5e6)
			}
		}
		return r
	}
	kept := plausibleShare(1000, 500*time.Millisecond, rec(500, false))
	late := kept
	late.Valid, late.InvalidReason, late.Lag.SentInWindow = false, "schedule not delivered: 90.00% of sends left within the measured window", 450
	spec := loadgen.StepSpec{Rate: 2000, Duration: 500 * time.Millisecond}
	share := func(name string, s results.Step, r *loadgen.Recorder) part {
		return part{name: name, rate: 1000, lanes: 1, res: result{Step: s}, rec: r}
	}
	for _, tc := range []struct {
		name    string
		parts   []part
		reason  string // "" for a valid step
		notName string
	}{
		{"both kept", []part{share("a1", kept, rec(500, false)), share("a2", kept, rec(500, false))}, "", ""},
		{"a2 fell behind", []part{share("a1", kept, rec(500, false)), share("a2", late, rec(500, false))},
			"agent a2 did not deliver its share: " + late.InvalidReason, "agent a1"},
		{"a1 gave none", []part{{name: "a1", err: errors.New("connection lost")}, share("a2", kept, rec(500, false))},
			"agent a1 gave no result: connection lost", "agent a2"},
		{"bursts in the merge", []part{share("a1", kept, rec(500, true)), share("a2", kept, rec(500, true))},
			"they left in bursts", "agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := merge(spec, loadgen.Limits{}, tc.parts).Step
			switch {
			case tc.reason == "" && !s.Valid:
				t.Errorf("invalid (%s), want valid", s.InvalidReason)
			case tc.reason != "" && (s.Valid || !strings.Contains(s.InvalidReason, tc.reason)):
				t.Errorf("valid=%v reason %q, want invalid with %q", s.Valid, s.InvalidReason, tc.reason)
			case tc.notName != "" && strings.Contains(s.InvalidReason, tc.notName):
				t.Errorf("reason %q names %s, which kept its schedule", s.InvalidReason, tc.notName)
			}
		})
	}
}

// With a probe, the merged send delay (what latency resolution is judged
// by) is the probe's, like its latency; the gaps are every agent's.
func TestMergeSendDelayFromProbes(t *testing.T) {
	mk := func(delayUS int64, n int) *loadgen.Recorder {
		r := loadgen.NewRecorder()
		for range n {
			r.Latency.RecordValue(1000)
			r.Service.RecordValue(900)
			r.SendDelay.RecordValue(delayUS)
			r.GapIntended.RecordValue(1e6)
			r.GapActual.RecordValue(1e6)
		}
		return r
	}
	load, probe := mk(900, 10), mk(5, 3)
	parts := []part{
		{name: "load", role: RoleLoad, rate: 10, lanes: 1, res: result{Step: plausibleShare(10, time.Second, load)}, rec: load},
		{name: "probe", role: RoleProbe, rate: 10, lanes: 1, res: result{Step: plausibleShare(10, time.Second, probe)}, rec: probe},
	}
	o := merge(loadgen.StepSpec{Rate: 20, Duration: time.Second}, loadgen.Limits{}, parts)
	if n := o.Hist.SendDelay.TotalCount(); n != 3 {
		t.Errorf("merged send delay holds %d sends, want the probe's 3", n)
	}
	if o.Step.SendDelayUS.P99 > 10 || len(o.Step.GeneratorLimited) > 0 {
		t.Errorf("send delay p99 %v µs, generator-limited %v: want the probe's 5 µs, not limited", o.Step.SendDelayUS.P99, o.Step.GeneratorLimited)
	}
	if n := o.Hist.GapActual.TotalCount(); n != 13 {
		t.Errorf("merged gaps hold %d, want every agent's 13", n)
	}
}

// plausibleShare is the record of an agent's share that rec describes,
// at rate over d: every send answered, none blocked, all within the
// window, its percentiles rec's.
func plausibleShare(rate float64, d time.Duration, rec *loadgen.Recorder) results.Step {
	n := uint64(rec.Latency.TotalCount())
	return results.Step{OfferedRPS: rate, DurationS: d.Seconds(), Valid: true, Sent: n, Answered: n,
		AchievedRPS: float64(n) / d.Seconds(), Lag: results.Lag{SentInWindow: n},
		LatencyUS: loadgen.Summarize(rec.Latency), ServiceUS: loadgen.Summarize(rec.Service), SendDelayUS: loadgen.Summarize(rec.SendDelay)}
}

// silentTCP accepts connections and never says a word (a host whose sshd
// hangs): the SSH handshake would wait for ever. accepted receives a value
// for each connection it took: a Launch is then in its handshake.
func silentTCP(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	acc := make(chan struct{}, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case acc <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String(), acc
}

// launchWithin runs l.Launch(ctx) and fails the test unless it returns
// an error within limit.
func launchWithin(t *testing.T, ctx context.Context, l *SSHLauncher, limit time.Duration, during func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := l.Launch(ctx); done <- err }()
	if during != nil {
		during()
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Launch against a silent server succeeded")
		}
		t.Logf("Launch: %v", err)
	case <-time.After(limit):
		t.Fatalf("Launch still waiting after %v", limit)
	}
}

// The SSH handshake is bounded by ConnectTimeout, ends with ctx, and
// ends when Close is called, which does not wait for it.
func TestSSHHandshakeBounded(t *testing.T) {
	srv := startTestSSH(t)
	// Each case has its own silent server, so that accepted speaks of its
	// own Launch.
	silent := func(t *testing.T) (dest string, accepted <-chan struct{}) {
		addr, accepted := silentTCP(t)
		return "tester@" + addr, accepted
	}
	t.Run("timeout", func(t *testing.T) {
		dest, _ := silent(t)
		opt := srv.options(t)
		opt.ConnectTimeout = 300 * time.Millisecond
		launchWithin(t, context.Background(), sshLauncher(t, dest, opt), 2*time.Second, nil)
	})
	t.Run("ctx", func(t *testing.T) {
		dest, accepted := silent(t)
		opt := srv.options(t)
		opt.ConnectTimeout = time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		launchWithin(t, ctx, sshLauncher(t, dest, opt), time.Second, func() {
			<-accepted // in the handshake
			cancel()
		})
	})
	t.Run("close", func(t *testing.T) {
		dest, accepted := silent(t)
		opt := srv.options(t)
		opt.ConnectTimeout = time.Minute
		l := sshLauncher(t, dest, opt)
		launchWithin(t, context.Background(), l, time.Second, func() {
			<-accepted // in the handshake
			closed := make(chan struct{})
			go func() { l.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(time.Second):
				t.Error("Close waited for the Launch under way")
			}
		})
	})
}

// recordLauncher launches in-process agents and keeps the prepare
// messages they were sent.
type recordLauncher struct {
	pipeLauncher
	mu       sync.Mutex
	prepares []prepare
}

type recordConn struct {
	io.ReadWriteCloser
	l *recordLauncher
}

func (c recordConn) Write(b []byte) (int, error) {
	var m message
	if json.Unmarshal(bytes.TrimSpace(b), &m) == nil && m.Type == typePrepare {
		c.l.mu.Lock()
		c.l.prepares = append(c.l.prepares, *m.Prepare)
		c.l.mu.Unlock()
	}
	return c.ReadWriteCloser.Write(b)
}

func (l *recordLauncher) Launch(ctx context.Context) (Launched, error) {
	c, err := l.pipeLauncher.Launch(ctx)
	c.Conn = recordConn{c.Conn, l}
	return c, err
}

func (l *recordLauncher) prepared(t *testing.T) prepare {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.prepares) != 1 {
		t.Fatalf("%d prepare messages, want 1", len(l.prepares))
	}
	return l.prepares[0]
}

// HTTP agents get exactly their weight's connections (5 per weight unit
// of 2 threads: 5 and 10, not 2 per thread); the description sums the
// connections of every agent and the load agents' threads.
func TestHTTPConnectionsExact(t *testing.T) {
	ls := []*recordLauncher{{}, {}, {}}
	cfg := Config{HTTP: &loadgen.HTTPConfig{URL: "http://127.0.0.1:1/", Threads: 2, Connections: 5},
		Agents: []Spec{{Name: "a", Launcher: ls[0]}, {Name: "b", Launcher: ls[1], Weight: 2}, {Name: "p", Launcher: ls[2], Role: RoleProbe}}}
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, want := range [][2]int{{2, 5}, {4, 10}, {2, 5}} {
		p := ls[i].prepared(t)
		if p.HTTP.Threads != want[0] || p.HTTP.Connections != want[1] {
			t.Errorf("agent %d: %d threads, %d connections; want %d, %d", i, p.HTTP.Threads, p.HTTP.Connections, want[0], want[1])
		}
	}
	info := r.Describe()
	if info.Workers != 20 || info.Threads != 6 {
		t.Errorf("described %d workers, %d threads; want 20 connections, 6 load threads", info.Workers, info.Threads)
	}
	cfg.HTTP.Connections = 1
	cfg.Agents = []Spec{{Name: "a", Launcher: &pipeLauncher{}}}
	r2, err := New(context.Background(), cfg)
	if err == nil {
		r2.Close()
	}
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "connections 1") {
		t.Errorf("1 connection over 2 threads: %v, want ErrConfig naming the connections", err)
	}
}

// A probe's Poisson lanes draw their own streams: its seed places its
// lanes after the load agents', not on load lanes 0…n−1 again.
func TestProbeSeedDistinct(t *testing.T) {
	addr := startDNS(t)
	ls := []*recordLauncher{{}, {}, {}}
	c := dnsConfig(addr)
	c.Sockets, c.Seed = 2, 7
	r, err := New(context.Background(), Config{DNS: c,
		Agents: []Spec{{Name: "l", Launcher: ls[0]}, {Name: "p1", Launcher: ls[1], Role: RoleProbe}, {Name: "p2", Launcher: ls[2], Role: RoleProbe}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	load, p1, p2 := ls[0].prepared(t).DNS, ls[1].prepared(t).DNS, ls[2].prepared(t).DNS
	stride := uint64(0x9e3779b97f4a7c15) // loadgen.NewPacer's
	if load.Seed != 7 || p1.Seed != 7+2*stride || p2.Seed != 7+4*stride {
		t.Errorf("seeds load %d, probes %d %d: want 7, then 7 + (2 and 4) × stride (lanes 2-3 and 4-5)", load.Seed, p1.Seed, p2.Seed)
	}
}
