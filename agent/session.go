package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ukbench/ukbench/results"
)

// Time limits of the control channel.
const (
	// helloTimeout bounds the wait for an agent's hello and for its
	// answer to prepare (a generator is made in milliseconds; the rest is
	// the agent's start-up on a loaded host).
	helloTimeout = 30 * time.Second
	// pingTimeout bounds one clock exchange.
	pingTimeout = 5 * time.Second
	// resultGrace is how long after a step's schedule ends (and its
	// answer timeout) the coordinator waits for the agent's result.
	resultGrace = 10 * time.Second
	// maxStartLead bounds how far ahead a start instant may be.
	maxStartLead = time.Minute
)

// session is the coordinator's conversation with one running agent, over
// conn (the agent's stdin and stdout). A reader goroutine owns the reads;
// the methods are called from one goroutine at a time.
type session struct {
	name     string
	conn     io.ReadWriteCloser
	w        *wire
	msgs     chan message
	done     chan struct{} // closed when the reader ends; err then says why
	quit     chan struct{} // closed by close: the reader stops handing on
	quitOnce sync.Once
	err      error
	hello    hello
}

// newSession starts reading conn and waits for the agent's hello. It
// refuses an agent of another protocol version (ErrVersion) and closes
// conn on any error.
func newSession(ctx context.Context, name string, conn io.ReadWriteCloser) (*session, error) {
	s := &session{name: name, conn: conn, w: newWire(conn, conn), msgs: make(chan message, 4), done: make(chan struct{}), quit: make(chan struct{})}
	go s.read()
	m, err := s.next(ctx, helloTimeout)
	if err == nil && (m.Type != typeHello || m.Hello == nil) {
		err = fmt.Errorf("%w: first message %q, want hello", ErrProtocol, m.Type)
	}
	if err == nil && m.Hello.Version != Version {
		err = fmt.Errorf("%w: the agent speaks version %d, this ukbench %d (copy the same ukbench there)", ErrVersion, m.Hello.Version, Version)
	}
	if err == nil {
		err = checkHello(*m.Hello)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	s.hello = *m.Hello
	return s, nil
}

func (s *session) read() {
	defer close(s.done)
	for {
		m, err := s.w.recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			s.err = fmt.Errorf("%w: %v", ErrLost, err)
			return
		}
		select {
		case s.msgs <- m:
		case <-s.quit:
			return
		}
	}
}

// next waits for the agent's next message, at most limit. An error
// message from the agent becomes ErrAgent.
func (s *session) next(ctx context.Context, limit time.Duration) (message, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case m := <-s.msgs:
		if m.Type == typeError {
			return m, fmt.Errorf("%w: %s", ErrAgent, clip(m.Error, maxAgentError))
		}
		return m, nil
	case <-s.done:
		select { // a message read before the end still counts
		case m := <-s.msgs:
			if m.Type == typeError {
				return m, fmt.Errorf("%w: %s", ErrAgent, clip(m.Error, maxAgentError))
			}
			return m, nil
		default:
		}
		return message{}, s.err
	case <-t.C:
		return message{}, fmt.Errorf("%w: no answer in %v", ErrLost, limit)
	case <-ctx.Done():
		return message{}, ctx.Err()
	}
}

// expect is next for a message of type want.
func (s *session) expect(ctx context.Context, want string, limit time.Duration) (message, error) {
	m, err := s.next(ctx, limit)
	if err == nil && m.Type != want {
		err = fmt.Errorf("%w: got %q, want %q", ErrProtocol, m.Type, want)
	}
	return m, err
}

// prepare makes the agent's generator.
func (s *session) prepare(ctx context.Context, p prepare) (ready, error) {
	p.Version = Version
	if err := s.w.send(message{Type: typePrepare, Prepare: &p}); err != nil {
		return ready{}, fmt.Errorf("%w: %v", ErrLost, err)
	}
	m, err := s.expect(ctx, typeReady, helloTimeout+p.TimerProbe)
	if err != nil {
		return ready{}, err
	}
	if m.Ready == nil {
		return ready{}, fmt.Errorf("%w: empty ready", ErrProtocol)
	}
	return *m.Ready, nil
}

// clockSamples is how many exchanges an offset estimate takes the best of.
const clockSamples = 8

// syncClock estimates the agent's clock offset NTP-style: for each
// exchange, the agent's reading T1 against the midpoint of the
// coordinator's send T0 and receipt T2; the exchange with the shortest
// round trip wins, and half its round trip bounds the error.
func (s *session) syncClock(ctx context.Context) (results.ClockOffset, error) {
	best := results.ClockOffset{RTTUS: -1, Samples: clockSamples}
	for range clockSamples {
		t0 := time.Now()
		if err := s.w.send(message{Type: typePing, Ping: &ping{T0: t0.UnixNano()}}); err != nil {
			return best, fmt.Errorf("%w: %v", ErrLost, err)
		}
		m, err := s.expect(ctx, typePong, pingTimeout)
		if err != nil {
			return best, err
		}
		rtt := time.Since(t0) // monotonic
		if m.Ping == nil || m.Ping.T0 != t0.UnixNano() {
			return best, fmt.Errorf("%w: pong for another ping", ErrProtocol)
		}
		mid := t0.UnixNano() + int64(rtt/2)
		if us := float64(rtt) / 1e3; best.RTTUS < 0 || us < best.RTTUS {
			best.RTTUS, best.BoundUS = us, us/2
			best.OffsetUS = float64(m.Ping.T1-mid) / 1e3
		}
	}
	return best, nil
}

// start sends the step to the agent.
func (s *session) start(st start) error {
	if err := s.w.send(message{Type: typeStart, Start: &st}); err != nil {
		return fmt.Errorf("%w: %v", ErrLost, err)
	}
	return nil
}

// result waits for the step's result, at most limit.
func (s *session) result(ctx context.Context, limit time.Duration) (result, error) {
	m, err := s.expect(ctx, typeResult, limit)
	if err != nil {
		return result{}, err
	}
	if m.Result == nil {
		return result{}, fmt.Errorf("%w: empty result", ErrProtocol)
	}
	return *m.Result, nil
}

// lost reports whether the connection has ended.
func (s *session) lost() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// close says bye, waits briefly for the agent's (passing over what it
// sent before, such as the result of a step given up on), and closes the
// connection (which closes the agent's stdin: it exits either way). The
// agent stops a running step on bye, so its answer comes at once.
func (s *session) close() error {
	if !s.lost() && s.w.send(message{Type: typeBye}) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		for {
			m, err := s.next(ctx, pingTimeout)
			if m.Type == typeBye || (err != nil && !errors.Is(err, ErrAgent)) {
				break
			}
		}
		cancel()
	}
	return s.abort()
}

// abort closes the connection without a word: the agent's stdin closes
// and it exits. A session that went wrong in a step is aborted, never
// reused, as it may be out of step with its agent.
func (s *session) abort() error {
	s.quitOnce.Do(func() { close(s.quit) })
	return s.conn.Close()
}
