package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// stopSignals end ukbench cleanly: Ctrl-C (SIGINT), kill's default
// (SIGTERM), and a hangup (SIGHUP: the terminal closed, the SSH session
// dropped). A campaign then stops every guest and server, keeps what
// finished, writes the run it cut short to interrupted.jsonl and removes
// its private directories.
var stopSignals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// stopCause is the cause of the context a stop signal ended. It wraps
// context.Canceled, as the context's own error does.
type stopCause struct{ sig syscall.Signal }

func (c stopCause) Error() string { return "stopped by " + unix.SignalName(c.sig) }
func (c stopCause) Unwrap() error { return context.Canceled }

// stopOnSignals returns a context that the first stop signal ends (with a
// stopCause), and a function that stops listening for them. A stop
// signal that was ignored when ukbench started stays ignored (nohup's
// SIGHUP; SIGINT for a job a shell starts in the background).
//
// After the first stop signal:
//   - another SIGINT or SIGTERM calls quit(128+signal) at once, for a
//     user who will not wait for the clean shutdown (a guest that ignores
//     QMP quit holds it 10 s). QEMU and native servers die with ukbench
//     (their parent-death signal); the private directories it leaves are
//     removed by the next `ukbench run` or `ukbench boot`.
//   - another SIGHUP changes nothing: a hangup often comes twice (from
//     the kernel and from the shell), and nobody is there to mean it.
//   - from a SIGHUP on, SIGPIPE is caught, so that writing to a terminal
//     or SSH channel that went away fails instead of ending ukbench in
//     the middle of its shutdown.
//
// notice, when not nil, gets a line at the first signal (a terminal, for
// the user who pressed Ctrl-C); warn gets one before quit.
func stopOnSignals(parent context.Context, notice, warn io.Writer, quit func(code int)) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	var sigs []os.Signal
	for _, s := range stopSignals {
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		stopping := false
		for {
			var sig syscall.Signal
			select {
			case <-done:
				return
			case s := <-ch:
				sig = s.(syscall.Signal)
			}
			if sig == syscall.SIGHUP {
				signal.Notify(ch, syscall.SIGPIPE)
			}
			switch {
			case sig == syscall.SIGPIPE:
			case !stopping:
				stopping = true
				if notice != nil {
					fmt.Fprintf(notice, "\nukbench: %s: stopping cleanly (guests shut down, finished runs kept); Ctrl-C again quits at once\n", unix.SignalName(sig))
				}
				cancel(stopCause{sig})
			case sig == syscall.SIGHUP:
			default:
				fmt.Fprintf(warn, "\nukbench: %s again: quitting without the clean shutdown (guests die with ukbench; the next run or boot removes what is left)\n", unix.SignalName(sig))
				quit(128 + int(sig))
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}
