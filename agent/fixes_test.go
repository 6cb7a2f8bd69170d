package agent

import (
	"context"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
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
