// Package agent makes one step's load from several hosts (issue 18): the
// coordinator starts `ukbench agent` on each over SSH and speaks a small
// versioned protocol with it on the agent's stdin and stdout, one JSON
// object a line. Each agent runs an ordinary loadgen generator with its
// share of the rate and returns its step record and its histograms
// losslessly; the coordinator (Remote, a loadgen.Generator) adds the
// histograms, never averages percentiles, and judges the merged step.
//
// The conversation, coordinator → agent unless marked:
//
//	← hello    version, SHA-256 of the agent's binary, CPUs, host name
//	  prepare  version, the target and its protocol options, the lane share
//	← ready    the generator's description (or error)
//	  ping     ← pong: the clock exchange, before every step
//	  start    the step (this agent's rate share) and its start instant
//	← result   the step record and its encoded histograms (or error)
//	  bye      ← bye, and the agent exits
//
// An agent exits when its stdin closes, whatever it was doing: a lost
// coordinator leaves no process behind.
package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// Version is the protocol version this ukbench speaks. A coordinator and
// an agent of different versions refuse each other (ErrVersion).
const Version = 1

// maxMessage bounds one protocol line, in bytes, and so what one message
// of an agent can cost the coordinator before it is decoded: a result
// holds five compressed histograms, a few KiB each and at most 0.76 MB
// together (decodeHist bounds each to its geometry's largest encoding),
// and a step record of a few KiB.
const maxMessage = 4 << 20

// maxAgentError bounds the text of an agent's error message that reaches
// a record, in bytes.
const maxAgentError = 4 << 10

// Errors of the protocol, wrapped with the agent's name.
var (
	// ErrVersion: the two sides speak different protocol versions.
	ErrVersion = errors.New("agent protocol version mismatch")
	// ErrProtocol: a message was malformed or out of turn.
	ErrProtocol = errors.New("agent protocol error")
	// ErrAgent: the agent reported a failure in an error message.
	ErrAgent = errors.New("agent failed")
	// ErrLost: the connection to the agent ended (it exited, was killed,
	// or its host or SSH connection went away).
	ErrLost = errors.New("agent connection lost")
)

// Message types.
const (
	typeHello   = "hello"
	typePrepare = "prepare"
	typeReady   = "ready"
	typePing    = "ping"
	typePong    = "pong"
	typeStart   = "start"
	typeResult  = "result"
	typeError   = "error"
	typeBye     = "bye"
)

// message is one protocol line: Type says which of the other fields is
// set.
type message struct {
	Type    string   `json:"type"`
	Hello   *hello   `json:"hello,omitempty"`
	Prepare *prepare `json:"prepare,omitempty"`
	Ready   *ready   `json:"ready,omitempty"`
	Ping    *ping    `json:"ping,omitempty"`
	Start   *start   `json:"start,omitempty"`
	Result  *result  `json:"result,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// hello is the agent's first message.
type hello struct {
	Version int    `json:"version"`
	SHA256  string `json:"sha256"` // of the agent's own executable
	Host    string `json:"host"`
	NumCPU  int    `json:"num_cpu"` // CPUs the agent may run on
	CPUs    string `json:"cpus,omitempty"`
	PID     int    `json:"pid"`
}

// prepare tells the agent what to load and how; exactly one of DNS and
// HTTP is set. The configs travel as loadgen has them (DNS's Share places
// the agent's lanes among all agents').
type prepare struct {
	Version int                 `json:"version"`
	DNS     *loadgen.DNSConfig  `json:"dns,omitempty"`
	HTTP    *loadgen.HTTPConfig `json:"http,omitempty"`
	// TimerProbe, when above 0, asks the agent to probe its host's timer
	// wake-up delay on its CPUs for this long (loadgen.TimerProbe) before
	// it answers ready.
	TimerProbe time.Duration `json:"timer_probe,omitempty"`
}

// ready answers prepare: the agent's generator is made, and what its timer
// probe found, when asked for one.
type ready struct {
	Load       results.LoadInfo    `json:"load"`
	TimerNoise *results.TimerNoise `json:"timer_noise,omitempty"`
}

// ping is the clock exchange: the coordinator sends T0 (its wall clock,
// Unix ns), the agent answers pong with T0 and T1 (its own wall clock when
// it answered).
type ping struct {
	T0 int64 `json:"t0"`
	T1 int64 `json:"t1,omitempty"`
}

// start runs one step: Rate is this agent's share, in requests/s, and At
// the instant to start on the agent's own wall clock (Unix ns).
type start struct {
	Rate       float64 `json:"rate"`
	WarmupNS   int64   `json:"warmup_ns"`
	DurationNS int64   `json:"duration_ns"`
	At         int64   `json:"at"`
}

// result is one step's outcome on the agent.
type result struct {
	Step results.Step `json:"step"`
	Hist encodedHist  `json:"hist"`
	// Started is when the agent's step clock started (its wall clock,
	// Unix ns).
	Started int64 `json:"started"`
}

// wire reads and writes protocol lines on one connection. Writes may come
// from several goroutines; reads from one.
type wire struct {
	r  *bufio.Scanner
	mu sync.Mutex
	w  io.Writer
}

func newWire(r io.Reader, w io.Writer) *wire {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), maxMessage)
	return &wire{r: s, w: w}
}

// send writes m as one line.
func (c *wire) send(m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: encode %s: %v", ErrProtocol, m.Type, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.w.Write(append(b, '\n'))
	return err
}

// recv reads the next line; io.EOF when the peer closed cleanly.
func (c *wire) recv() (message, error) {
	if !c.r.Scan() {
		if err := c.r.Err(); err != nil {
			return message{}, err
		}
		return message{}, io.EOF
	}
	var m message
	if err := json.Unmarshal(c.r.Bytes(), &m); err != nil {
		return message{}, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return m, nil
}

// clip cuts s to at most n bytes (on a rune boundary), marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + " …(cut)"
}
