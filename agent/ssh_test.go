package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
)

// exitBound bounds how long an agent may take to exit once its stdin
// closed.
const exitBound = 5 * time.Second

func sshLauncher(t *testing.T, dest string, opt SSHOptions) *SSHLauncher {
	t.Helper()
	l, err := NewSSHLauncher(dest, opt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Two agents over SSH (one by an ~/.ssh/config alias, one by
// user@host:port), real processes: the protocol round trip, and the
// binary copied once for both.
func TestSSHRoundTripCopiesOnce(t *testing.T) {
	srv := startTestSSH(t)
	addr := startDNS(t)
	opt := srv.options(t)
	l1 := sshLauncher(t, "testagent", opt)
	l2 := sshLauncher(t, "tester@"+srv.addr, opt)
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), Agents: []Spec{{Name: "testagent", Launcher: l1}, {Name: "second", Launcher: l2, Weight: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := loadgen.StepSpec{Rate: 1500, Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond}
	began := time.Now()
	o, err := r.RunStep(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// The control channel's cost per step (BENCHMARKS.md): clock
	// exchanges, the start lead, the drain and the result.
	t.Logf("control overhead: %v beyond the step's %v", time.Since(began)-stepLength(spec), stepLength(spec))
	s := o.Step
	a0, a1 := s.Agents[0], s.Agents[1]
	if s.Sent+s.NeverSent != 600 || a0.Sent+a0.NeverSent != 200 || a1.Sent+a1.NeverSent != 400 {
		t.Errorf("sent + never sent %d+%d (agents %d+%d, %d+%d), want 600 split 1:2 by weight", s.Sent, s.NeverSent, a0.Sent, a0.NeverSent, a1.Sent, a1.NeverSent)
	}
	if strings.Contains(s.InvalidReason, "no result") || s.Answered == 0 {
		t.Errorf("step %q answered %d: want both agents' results", s.InvalidReason, s.Answered)
	}
	info := r.Describe()
	if !info.Agents[0].Copied || info.Agents[1].Copied || srv.ran("cat >") != 1 {
		t.Errorf("copied %v, %v with %d copy commands: want the binary copied once, by the first", info.Agents[0].Copied, info.Agents[1].Copied, srv.ran("cat >"))
	}
	want, _ := ExecutableSHA256()
	if info.Agents[1].BinarySHA256 != want || info.Agents[1].Lanes != 2 {
		t.Errorf("agent info %+v: want binary %s, 2 lanes", info.Agents[1], want)
	}
	// A changed remote binary is copied again.
	bin := filepath.Join(srv.home, "agentbin", "ukbench")
	os.Remove(bin) // it is running
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := l1.Launch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.Conn.Close()
	if !c.Copied || l1.Copies() != 2 {
		t.Errorf("launch after the remote binary changed copied=%v (%d copies), want a new copy", c.Copied, l1.Copies())
	}
}

// An agent of another protocol version is refused over SSH too.
func TestSSHVersionMismatchRefused(t *testing.T) {
	srv := startTestSSH(t, "UKBENCH_TEST_AGENT_VERSION=99")
	l := sshLauncher(t, "testagent", srv.options(t))
	defer l.Close()
	_, err := New(context.Background(), Config{DNS: dnsConfig("127.0.0.1:53"), Agents: []Spec{{Name: "testagent", Launcher: l}}})
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("New = %v, want ErrVersion naming version 99", err)
	}
}

// A host whose key is not the one in known_hosts is refused.
func TestSSHHostKeyChecked(t *testing.T) {
	srv := startTestSSH(t)
	other := startTestSSH(t) // its known_hosts has another key for its own address
	kh, _ := os.ReadFile(filepath.Join(other.home, ".ssh", "known_hosts"))
	line := strings.Replace(string(kh), other.addr[strings.LastIndex(other.addr, ":")+1:], srv.addr[strings.LastIndex(srv.addr, ":")+1:], 1)
	os.WriteFile(filepath.Join(srv.home, ".ssh", "known_hosts"), []byte(line), 0o600)
	l := sshLauncher(t, "testagent", srv.options(t))
	defer l.Close()
	if _, err := l.Launch(context.Background()); !errors.Is(err, ErrHostKey) {
		t.Fatalf("Launch = %v, want ErrHostKey", err)
	}
	os.Remove(filepath.Join(srv.home, ".ssh", "known_hosts"))
	if _, err := l.Launch(context.Background()); !errors.Is(err, ErrHostKey) {
		t.Fatalf("Launch without known_hosts = %v, want ErrHostKey", err)
	}
}

// launchSession starts one agent over SSH and prepares it.
func launchSession(t *testing.T, srv *testSSH, addr string) (*SSHLauncher, *session) {
	t.Helper()
	l := sshLauncher(t, "testagent", srv.options(t))
	t.Cleanup(func() { l.Close() })
	c, err := l.Launch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSession(context.Background(), "testagent", c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.prepare(context.Background(), prepare{DNS: dnsConfig(addr)}); err != nil {
		t.Fatal(err)
	}
	return l, s
}

// Closing the agent's stdin mid-step ends the agent process at once, long
// before its step would have ended.
func TestSSHStdinCloseEndsAgent(t *testing.T) {
	srv := startTestSSH(t)
	_, s := launchSession(t, srv, startDNS(t))
	exited := srv.exited(s.hello.PID)
	if exited == nil {
		t.Fatalf("the server ran no process %d", s.hello.PID)
	}
	if err := s.start(start{Rate: 100, DurationNS: int64(time.Minute), At: time.Now().UnixNano()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.syncClock(context.Background()); err != nil { // answered mid-step
		t.Fatal(err)
	}
	s.conn.Close()
	select {
	case <-exited:
	case <-time.After(exitBound):
		t.Fatalf("agent %d still running %v after its stdin closed", s.hello.PID, exitBound)
	}
}

// An agent killed by SIGKILL mid-step: the step is invalid and its reason
// names the agent and the signal; the other agent's share is kept.
func TestSSHKilledAgentNamed(t *testing.T) {
	srv := startTestSSH(t)
	addr := startDNS(t)
	opt := srv.options(t)
	l1, l2 := sshLauncher(t, "testagent", opt), sshLauncher(t, "victim@"+srv.addr, opt)
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), Agents: []Spec{{Name: "testagent", Launcher: l1}, {Name: "victim", Launcher: l2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pid := r.agents[1].sess.hello.PID
	time.AfterFunc(300*time.Millisecond, func() { syscall.Kill(pid, syscall.SIGKILL) }) // the step runs 600 ms from its start
	o, err := r.RunStep(context.Background(), loadgen.StepSpec{Rate: 1000, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := o.Step
	if s.Valid || !strings.Contains(s.InvalidReason, "agent victim") || !strings.Contains(s.InvalidReason, "signal KILL") {
		t.Errorf("reason %q: want invalid, naming agent victim and the signal", s.InvalidReason)
	}
	if s.Agents[0].Error != "" || s.Agents[0].Sent == 0 || s.Sent != s.Agents[0].Sent {
		t.Errorf("agent records %+v: want testagent's share kept", s.Agents)
	}
}
