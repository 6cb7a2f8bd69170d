package experiment

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ukbench/ukbench/internal/cpuset"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/targets/servers"
)

// TestWorkloadThreads: an http workload's threads reach its generator and
// its run record (LoadInfo.Threads); left out, the generator runs
// loadgen.DefaultThreads(connections) and the plan holds no threads key, so a campaign
// begun before the key existed resumes with the same plan.
func TestWorkloadThreads(t *testing.T) {
	for _, tc := range []struct {
		name, edit   string
		want, config int
	}{
		{"left out", "", 1, 0},
		{"two", "\n    connections: 4\n    threads: 2", 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(writeConfig(t, strings.Replace(goodConfig, "rates: 100:300:100", "rates: 100:300:100"+tc.edit, 1)))
			if err != nil {
				t.Fatal(err)
			}
			w := c.Workloads[1]
			if w.Threads != tc.config {
				t.Errorf("config threads %d, want %d", w.Threads, tc.config)
			}
			g, err := newGenerator(w, "127.0.0.1:8080")
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Describe().Threads; got != tc.want {
				t.Errorf("run record threads %d, want %d", got, tc.want)
			}
			plan, err := canonicalPlan(c)
			if err != nil {
				t.Fatal(err)
			}
			_, inPlan := plan["workloads"].([]any)[1].(map[string]any)["threads"]
			if inPlan != (tc.config != 0) {
				t.Errorf("threads in the plan: %v, want %v", inPlan, tc.config != 0)
			}
		})
	}
}

// TestThreadsRunOnTheLoadCPUs: the campaign pins the whole process to its
// placement's load CPUs (pinSelf) before any load; the threads an HTTP
// step with 2 threads runs its event loops on, made or locked during the
// step, inherit that: every thread of the process is on the load CPUs
// while the step runs.
func TestThreadsRunOnTheLoadCPUs(t *testing.T) {
	cpus := targets.UsableCPUs()
	if len(cpus) < 2 {
		t.Skip("one usable CPU: pinning to it proves nothing")
	}
	load := cpus[len(cpus)-1:]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := servers.StartHTTP(ctx, servers.HTTPConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	restore, err := cpuset.PinProcess(load)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	g, err := loadgen.NewHTTP(loadgen.HTTPConfig{URL: "http://" + srv.Addr + "/", Connections: 4, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The progress callback runs about once a second during the step, on
	// another goroutine; RunStep returns after its last call.
	var checks, threads int
	var stray []string
	spec := loadgen.StepSpec{Rate: 200, Duration: 1500 * time.Millisecond, Progress: func(loadgen.Live) {
		checks++
		threads = 0
		cpuset.ForEachThread(func(tid int) error {
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &set); err != nil {
				return nil // the thread has gone
			}
			threads++
			if set.Count() != len(load) || !set.IsSet(load[0]) {
				stray = append(stray, fmt.Sprintf("thread %d on %d CPUs", tid, set.Count()))
			}
			return nil
		})
	}}
	out, err := g.RunStep(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if checks == 0 || out.Step.Answered == 0 {
		t.Fatalf("%d checks during the step, %d answers: the step did not run as meant", checks, out.Step.Answered)
	}
	if len(stray) > 0 {
		t.Errorf("threads off the load CPU %v during the step: %v", load, stray)
	}
	t.Logf("%d threads, all on CPU %v; %d answers", threads, load, out.Step.Answered)
}
