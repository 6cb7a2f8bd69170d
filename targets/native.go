package targets

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/servers"
	"github.com/ukbench/ukbench/vm"
)

// nativeProc is a server running as a host process.
type nativeProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func nativeCommand(spec Spec, o BootOptions) []string {
	args := []string{o.Binary, "serve", spec.App, "--listen", "127.0.0.1:0"}
	if spec.App == linuximage.AppDNS && spec.DNSSockets > 0 {
		args = append(args, "--sockets", fmt.Sprint(spec.DNSSockets))
	}
	return args
}

// bootNative runs ukbench's server on the host, pinned to the target's
// host CPUs, and returns once it has answered.
func bootNative(ctx context.Context, spec Spec, o BootOptions, begun time.Time) (*Instance, error) {
	argv := nativeCommand(spec, o)
	log, err := os.Create(o.ConsolePath())
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	if err := vm.StartPinned(cmd, spec.HostCPUs); err != nil {
		log.Close()
		return nil, fmt.Errorf("target %s: %w", spec.Label(), err)
	}
	execAt := time.Now()
	p := &nativeProc{cmd: cmd, done: make(chan struct{})}
	type ready struct {
		addr string
		at   time.Time
	}
	addrc := make(chan ready, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if _, addr, ok := servers.ParseReadyLine(line); ok {
				select {
				case addrc <- ready{addr, time.Now()}:
				default:
				}
			}
		}
		cmd.Wait()
		log.Close()
		close(p.done)
	}()
	inst := &Instance{Spec: spec, Accel: results.AccelNone, ConsoleLog: o.ConsolePath(), Command: argv, native: p, Files: []File{{Role: "binary", Path: argv[0]}}}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd ready
	select {
	case rd = <-addrc:
		inst.Addr = rd.addr
	case <-p.done:
		return nil, fmt.Errorf("target %s: server exited before it was ready (see %s)", spec.Label(), inst.ConsoleLog)
	case <-bctx.Done():
		p.stop()
		return nil, fmt.Errorf("target %s: server not ready: %w", spec.Label(), bctx.Err())
	}
	if err := WaitAnswer(bctx, p.done, spec.Protocol(), inst.Addr, spec.ProbeName, spec.ProbePath); err != nil {
		p.stop()
		return nil, fmt.Errorf("target %s: %w", spec.Label(), err)
	}
	inst.Boot = &results.Boot{ConsoleReadyMS: ms(rd.at.Sub(execAt)), FirstAnswerMS: ms(time.Since(execAt)), LaunchMS: ms(execAt.Sub(begun))}
	return inst, nil
}

// stop sends SIGTERM, then SIGKILL after 5 s, and waits for the exit.
func (p *nativeProc) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return nil
}
