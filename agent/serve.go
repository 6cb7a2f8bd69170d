package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/ukbench/ukbench/internal/cpuset"
	"github.com/ukbench/ukbench/loadgen"
)

// ServeOptions configure the agent side.
type ServeOptions struct {
	// CPUs is the CPU list ("0-3") the agent confines itself to before
	// anything else; "" leaves its affinity alone.
	CPUs string
	// SHA256 is reported in hello as the agent's binary; default: the
	// SHA-256 of os.Executable().
	SHA256 string
	// Version is the protocol version spoken; 0 means Version (tests set
	// another to see a mismatch refused).
	Version int
}

// Serve is `ukbench agent`: it speaks the protocol on in (the agent's
// stdin) and out (its stdout) until the coordinator says bye or in
// closes, which ends a running step at once. It returns nil on bye and on
// a closed in (the coordinator is gone: exit quietly), and an error when
// the conversation broke. One step runs at a time; Serve owns the
// generator it makes.
func Serve(ctx context.Context, in io.Reader, out io.Writer, opt ServeOptions) error {
	cpus, err := cpuset.Parse(opt.CPUs)
	if err != nil {
		return err
	}
	if _, err := cpuset.PinProcess(cpus); err != nil { // for the agent's life
		return err
	}
	if opt.SHA256 == "" {
		if opt.SHA256, err = ExecutableSHA256(); err != nil {
			return err
		}
	}
	if opt.Version == 0 {
		opt.Version = Version
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := newWire(in, out)
	// The reader: every message goes to msgs; bye and the end of in cancel
	// ctx before anything else, which stops a running step at once (the
	// loop may be busy in a step and not take a message for a minute, so
	// the reader must not wait on it to see them). bye is answered here.
	msgs := make(chan message, 8)
	readErr := make(chan error, 1)
	go func() {
		defer cancel()
		for {
			m, err := w.recv()
			if err != nil {
				readErr <- err // before the deferred cancel: the loop reads it on ctx.Done
				return
			}
			if m.Type == typeBye {
				w.send(message{Type: typeBye})
				readErr <- io.EOF
				return
			}
			if m.Type == typePing && m.Ping != nil { // answered at once, even mid-step
				m.Ping.T1 = time.Now().UnixNano()
				if w.send(message{Type: typePong, Ping: m.Ping}) != nil {
					readErr <- io.EOF
					return
				}
				continue
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				readErr <- io.EOF
				return
			}
		}
	}()
	host, _ := os.Hostname()
	h := hello{Version: opt.Version, SHA256: opt.SHA256, Host: host, NumCPU: runtime.NumCPU(), CPUs: opt.CPUs, PID: os.Getpid()}
	if err := w.send(message{Type: typeHello, Hello: &h}); err != nil {
		return nil // the coordinator is gone
	}
	var gen loadgen.Generator
	for {
		var m message
		select {
		case m = <-msgs:
		case <-ctx.Done():
			select {
			case err := <-readErr:
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			default:
				return ctx.Err()
			}
		}
		switch m.Type {
		case typePrepare:
			g, err := prepareGenerator(m.Prepare, opt.Version)
			if err != nil {
				w.send(message{Type: typeError, Error: err.Error()})
				if errors.Is(err, ErrVersion) {
					return err
				}
				continue
			}
			gen = g
			rd := &ready{Load: gen.Describe()}
			if d := m.Prepare.TimerProbe; d > 0 {
				// This host's timers, on the CPUs the agent was placed on.
				n, err := loadgen.TimerProbe{Duration: d}.Run(ctx)
				if err != nil {
					w.send(message{Type: typeError, Error: "timer probe: " + err.Error()})
					continue
				}
				rd.TimerNoise = &n
			}
			w.send(message{Type: typeReady, Ready: rd})
		case typeStart:
			if gen == nil || m.Start == nil {
				w.send(message{Type: typeError, Error: "start before prepare"})
				continue
			}
			res, err := runStart(ctx, gen, *m.Start)
			if ctx.Err() != nil {
				continue // in closed mid-step: the loop returns
			}
			if err != nil {
				w.send(message{Type: typeError, Error: err.Error()})
				continue
			}
			w.send(message{Type: typeResult, Result: &res})
		default:
			w.send(message{Type: typeError, Error: fmt.Sprintf("unexpected %q message", m.Type)})
		}
	}
}

// prepareGenerator makes the generator prepare asks for.
func prepareGenerator(p *prepare, version int) (loadgen.Generator, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: empty prepare", ErrProtocol)
	case p.Version != version:
		return nil, fmt.Errorf("%w: the coordinator speaks version %d, this agent %d", ErrVersion, p.Version, version)
	case p.DNS != nil:
		return loadgen.NewDNS(*p.DNS)
	case p.HTTP != nil:
		return loadgen.NewHTTP(*p.HTTP)
	}
	return nil, fmt.Errorf("%w: prepare names no protocol", ErrProtocol)
}

// runStart waits for the start instant on this host's wall clock, then
// runs the step and encodes its outcome.
func runStart(ctx context.Context, gen loadgen.Generator, s start) (result, error) {
	if wait := time.Until(time.Unix(0, s.At)); wait > 0 {
		if wait > maxStartLead {
			return result{}, fmt.Errorf("%w: start %v ahead, more than %v", ErrProtocol, wait, maxStartLead)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return result{}, ctx.Err()
		}
	}
	o, err := gen.RunStep(ctx, loadgen.StepSpec{Rate: s.Rate, Warmup: time.Duration(s.WarmupNS), Duration: time.Duration(s.DurationNS)})
	if err != nil {
		return result{}, err
	}
	hist, err := encodeRecorder(o.Hist)
	if err != nil {
		return result{}, err
	}
	return result{Step: o.Step, Hist: hist, Started: o.Started.UnixNano()}, nil
}

// ExecutableSHA256 is the SHA-256 (hex) of this process's executable.
func ExecutableSHA256() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", err
	}
	return FileSHA256(p)
}

// FileSHA256 is the SHA-256 (hex) of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
