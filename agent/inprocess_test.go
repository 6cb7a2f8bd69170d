package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/loadgen"
)

// pipeLauncher runs Serve in this process on a pair of pipes: the agent
// in-process. Each launch starts a new one; kill ends the current one's
// connection as a killed process would (its stdout closes).
type pipeLauncher struct {
	opt ServeOptions

	mu      sync.Mutex
	wg      sync.WaitGroup
	kills   []func()
	serves  int
	serveOK chan error // each Serve's return
}

type pipeConn struct {
	io.Reader
	io.WriteCloser
	closeR func() error
}

func (c pipeConn) Close() error { c.WriteCloser.Close(); return c.closeR() }

func (l *pipeLauncher) Launch(ctx context.Context) (Launched, error) {
	inR, inW := io.Pipe()   // the agent's stdin
	outR, outW := io.Pipe() // its stdout
	l.mu.Lock()
	l.serves++
	if l.serveOK == nil {
		l.serveOK = make(chan error, 16)
	}
	l.kills = append(l.kills, func() { outW.CloseWithError(errors.New("killed")); inR.Close() })
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := Serve(context.Background(), inR, outW, l.opt)
		outW.Close()
		l.serveOK <- err
	}()
	return Launched{Conn: pipeConn{Reader: outR, WriteCloser: inW, closeR: outR.Close}}, nil
}

func (l *pipeLauncher) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kills[len(l.kills)-1]()
}

func (l *pipeLauncher) Close() error { l.wg.Wait(); return nil }

// startDNS serves the loadgen's default names on 127.0.0.1 (miekg/dns),
// answering every query, until the test ends.
func startDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func dnsConfig(addr string) *loadgen.DNSConfig {
	return &loadgen.DNSConfig{Server: addr, Sockets: 1, Timeout: 500 * time.Millisecond}
}

// Two in-process agents through the whole protocol: hello, prepare,
// clock, start, result with histograms, bye; the merged step adds their
// counts and histograms, and keeps each agent's record.
func TestRoundTripInProcess(t *testing.T) {
	addr := startDNS(t)
	l1, l2 := &pipeLauncher{}, &pipeLauncher{}
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), Agents: []Spec{{Name: "a1", Launcher: l1}, {Name: "a2", Launcher: l2}}})
	if err != nil {
		t.Fatal(err)
	}
	spec := loadgen.StepSpec{Rate: 2000, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond}
	o, err := r.RunStep(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	s := o.Step
	if len(s.Agents) != 2 {
		t.Fatalf("%d agent records, want 2", len(s.Agents))
	}
	a, b := s.Agents[0], s.Agents[1]
	if a.Agent != "a1" || b.Agent != "a2" || a.OfferedRPS != 1000 || b.OfferedRPS != 1000 {
		t.Errorf("agent records %s %.0f/s, %s %.0f/s; want a1 and a2 at 1000/s each", a.Agent, a.OfferedRPS, b.Agent, b.OfferedRPS)
	}
	if s.Sent != a.Sent+b.Sent || s.Answered != a.Answered+b.Answered || s.NeverSent != a.NeverSent+b.NeverSent || s.Sent+s.NeverSent != 1000 {
		t.Errorf("merged sent %d never sent %d answered %d; agents sent %d+%d never sent %d+%d answered %d+%d; want the sums, 1000 due", s.Sent, s.NeverSent, s.Answered, a.Sent, b.Sent, a.NeverSent, b.NeverSent, a.Answered, b.Answered)
	}
	if got := o.Hist.Latency.TotalCount(); got != int64(s.Answered) {
		t.Errorf("merged latency histogram holds %d answers, want %d", got, s.Answered)
	}
	if s.AchievedRPS != a.AchievedRPS+b.AchievedRPS {
		t.Errorf("achieved %v, want the agents' sum %v", s.AchievedRPS, a.AchievedRPS+b.AchievedRPS)
	}
	// Whether each agent kept its schedule is the host's business (a busy
	// host makes a valid verdict invalid, rightly); what the merge owes is
	// to carry each agent's verdict, naming it (TestMergeJudgesEveryShare
	// checks the verdicts themselves on recorded sends).
	for _, as := range s.Agents {
		if !as.Valid && (s.Valid || !strings.Contains(s.InvalidReason, "agent "+as.Agent+" did not deliver its share: "+as.InvalidReason)) {
			t.Errorf("agent %s invalid (%s), merged step valid=%v reason %q: want it invalid, naming the agent and its reason", as.Agent, as.InvalidReason, s.Valid, s.InvalidReason)
		}
	}
	if a.Clock == nil || a.Clock.BoundUS <= 0 || a.Clock.Samples != clockSamples {
		t.Errorf("clock offset %+v: want an estimate with its bound", a.Clock)
	}
	// Each agent started at the agreed instant, never before it (it sleeps
	// until then), and not a step's length after it (a scheduler wake-up
	// is late by milliseconds on a busy host, not by the whole step).
	for _, as := range s.Agents {
		if as.StartSkewUS < 0 || as.StartSkewUS > float64(stepLength(spec).Microseconds()) {
			t.Errorf("agent %s started %.0f µs after the agreed instant, want 0 to the step's %v", as.Agent, as.StartSkewUS, stepLength(spec))
		}
	}
	info := r.Describe()
	if len(info.Agents) != 2 || info.Workers != 2 || info.Agents[0].Lanes != 1 || info.Agents[0].BinarySHA256 == "" {
		t.Errorf("description %+v: want 2 agents of 1 lane each with their binary", info)
	}
	for _, l := range []*pipeLauncher{l1, l2} {
		if err := <-l.serveOK; err != nil {
			t.Errorf("agent ended with %v after bye, want nil", err)
		}
	}
}

// An agent of another protocol version is refused with ErrVersion, and
// the refusal says both versions.
func TestVersionMismatchRefused(t *testing.T) {
	l := &pipeLauncher{opt: ServeOptions{Version: Version + 1}}
	_, err := New(context.Background(), Config{DNS: dnsConfig("127.0.0.1:53"), Agents: []Spec{{Name: "old", Launcher: l}}})
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("New = %v, want ErrVersion", err)
	}
	if !strings.Contains(err.Error(), "agent old") {
		t.Errorf("error %q does not name the agent", err)
	}
	// The agent saw its stdin close and ended.
	if err := <-l.serveOK; err != nil {
		t.Errorf("refused agent ended with %v, want nil (stdin closed)", err)
	}
}

// An agent refuses a coordinator of another version too.
func TestAgentRefusesOtherVersion(t *testing.T) {
	g, err := prepareGenerator(&prepare{Version: Version + 1, DNS: dnsConfig("127.0.0.1:53")}, Version)
	if !errors.Is(err, ErrVersion) || g != nil {
		t.Fatalf("prepare of version %d = %v, want ErrVersion", Version+1, err)
	}
}

// An agent lost mid-step fails that step only: the step is invalid and
// its reason names the agent, the other agent's share is kept, and the
// next step launches the lost agent again and is valid.
func TestAgentLostMidStep(t *testing.T) {
	addr := startDNS(t)
	l1, l2 := &pipeLauncher{}, &pipeLauncher{}
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), Agents: []Spec{{Name: "a1", Launcher: l1}, {Name: "a2", Launcher: l2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := loadgen.StepSpec{Rate: 1000, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond}
	time.AfterFunc(200*time.Millisecond, l2.kill) // mid-step: the step runs 400 ms from its start
	o, err := r.RunStep(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	s := o.Step
	// (a1 may also have fallen behind on a loaded machine: that is its
	// own reason, not a lost result.)
	if s.Valid || !strings.Contains(s.InvalidReason, "agent a2 gave no result") || strings.Contains(s.InvalidReason, "agent a1 gave no result") {
		t.Errorf("step valid=%v reason %q: want invalid, a2 lost and a1 not", s.Valid, s.InvalidReason)
	}
	if s.Agents[1].Error == "" || s.Agents[0].Error != "" || s.Agents[0].Sent == 0 || s.Sent != s.Agents[0].Sent {
		t.Errorf("agent records %+v: want a1's share kept, a2's error", s.Agents)
	}
	o, err = r.RunStep(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	l2.mu.Lock()
	serves := l2.serves
	l2.mu.Unlock()
	// (Whether the shared test machine kept the schedule is not this
	// test's question: both agents must have answered.)
	if strings.Contains(o.Step.InvalidReason, "no result") || o.Step.Agents[1].Sent == 0 || serves != 2 {
		t.Errorf("next step %q, a2 sent %d, launched %d times: want both agents' results after a relaunch", o.Step.InvalidReason, o.Step.Agents[1].Sent, serves)
	}
}

// A probe agent sends ProbeRate out of the offered rate, and the merged
// latency is the probe's alone; every agent's sends count.
func TestProbeRole(t *testing.T) {
	addr := startDNS(t)
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), ProbeRate: 100,
		Agents: []Spec{{Name: "load", Launcher: &pipeLauncher{}}, {Name: "probe", Launcher: &pipeLauncher{}, Role: RoleProbe}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o, err := r.RunStep(context.Background(), loadgen.StepSpec{Rate: 1000, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := o.Step
	l, p := s.Agents[0], s.Agents[1]
	if l.OfferedRPS != 900 || p.OfferedRPS != 100 || p.Role != RoleProbe || s.Sent != l.Sent+p.Sent {
		t.Errorf("load %.0f/s, probe %.0f/s (%q), sent %d = %d+%d: want 900 + 100, all sends counted", l.OfferedRPS, p.OfferedRPS, p.Role, s.Sent, l.Sent, p.Sent)
	}
	if got := o.Hist.Latency.TotalCount(); got != int64(p.Answered) {
		t.Errorf("merged latency holds %d answers, want the probe's %d", got, p.Answered)
	}
}

// TestAgentsProbeTheirTimers: asked for a timer probe, each agent probes
// its own host's timers before it answers ready, and the coordinator keeps
// what it found with the agent.
func TestAgentsProbeTheirTimers(t *testing.T) {
	addr := startDNS(t)
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), TimerProbe: 50 * time.Millisecond,
		Agents: []Spec{{Name: "a1", Launcher: &pipeLauncher{}}, {Name: "a2", Launcher: &pipeLauncher{}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, a := range r.Describe().Agents {
		if n := a.TimerNoise; n == nil || n.Wakeups == 0 || n.DurationS != 0.05 {
			t.Errorf("agent %s: timer noise %+v, want its 50 ms probe", a.Agent, n)
		}
	}
}
