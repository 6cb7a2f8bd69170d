package vm

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestChildSurvivesTheStartingThread: a child started with a parent-death
// signal must not die when the goroutine that started it locks its thread
// and exits, ending that thread (as the DNS generator's pacing loops do).
// It did, before children were forked from the spawner thread.
func TestChildSurvivesTheStartingThread(t *testing.T) {
	for _, cpus := range [][]int{nil, {0}} {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		type started struct {
			tid int
			err error
		}
		c := make(chan started, 1)
		go func() {
			err := StartPinned(cmd, cpus)
			runtime.LockOSThread() // exiting while locked ends this thread
			c <- started{syscall.Gettid(), err}
		}()
		s := <-c
		if s.err != nil {
			t.Fatal(s.err)
		}
		defer cmd.Process.Kill()
		deadline := time.Now().Add(10 * time.Second)
		for s.tid != os.Getpid() { // the main thread is parked, never ended
			if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(s.tid)); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("thread %d did not exit", s.tid)
			}
			runtime.Gosched()
		}
		// The signal, if sent, was sent as the thread exited; give the
		// child a bounded moment to die of it.
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); runtime.Gosched() {
			var st syscall.WaitStatus
			if pid, _ := syscall.Wait4(cmd.Process.Pid, &st, syscall.WNOHANG, nil); pid != 0 {
				t.Fatalf("cpus %v: the child died with the thread that started it: %v", cpus, st)
			}
		}
	}
}
