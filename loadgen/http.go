package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"

	"github.com/ukbench/ukbench/results"
)

// maxStatus bounds the status codes counted one by one: RFC 9110 (15)
// status codes are 100 to 599; a response with another is malformed. Only
// final ones (200 to 599) are counted: interim 1xx responses are skipped
// and a 101 is malformed (httpresponse.go).
const maxStatus = 600

// HTTPConfig configures an HTTP load generator.
type HTTPConfig struct {
	URL     string   // http://host:port/path
	Method  string   // default GET
	Headers []string // "Name: value"
	Body    []byte   // request body, if any
	// Connections is the number of workers, each with one connection; the
	// pacer hands each request to an idle one. Default DefaultConnections,
	// at most MaxConnections, at least Threads.
	Connections int
	// Threads is the number of lanes the load is spread over (step.go):
	// each has its share of the schedule (NewPacer's index i of n: rate/n,
	// constant schedules phase-shifted so that together they stay evenly
	// spaced) and of the connections (laneShare), and counts into its own
	// Recorder, merged after the step. Plain http runs each lane as an
	// event loop on its own locked OS thread (httploop.go); https as a
	// fasthttp pacer goroutine with its workers (httppool.go). The threads
	// are the process's: they run on whatever CPUs the process is
	// confined to (an experiment pins it to its placement's load CPUs
	// before any load, and threads made later inherit that). Default
	// DefaultThreads(Connections): one per ConnsPerThread connections;
	// at most MaxThreads.
	Threads int
	// Share places the threads among the lanes of a step several
	// generators make together (agents); zero: this generator alone.
	Share LaneShare
	// NewConnection opens a TCP connection per request (httperf's method,
	// used by the Utah study) instead of keeping connections alive.
	NewConnection bool
	Timeout       time.Duration // per request, connect included; default DefaultTimeout
	// ExpectStatus: a response with another status is an error. 0 accepts
	// any 2xx.
	ExpectStatus int
	// ExpectBodySize: when above 0, a response body of another size is an
	// error. 0 (the zero value) checks nothing.
	ExpectBodySize int
	Arrivals       Arrivals
	Seed           uint64
	Limits         Limits
}

// HTTP is an open-loop HTTP/1.1 load generator. Its load runs on
// HTTPConfig.Threads lanes (step.go), each with its share of the schedule
// and of the connections, as DNS runs a lane per socket. Plain http runs
// each lane as an epoll event loop (httpLoop, httploop.go), keep-alive or a
// new connection per request. https runs each on fasthttp (httpPool,
// httppool.go): a pacer goroutine follows the lane's schedule and hands
// each request, at its intended time, to an idle worker; each worker owns
// one connection and parks in the netpoller while its request runs. Either
// way a request that finds no
// free connection waits for one and is counted as blocked; its latency
// still runs from its intended time. It never retries (fasthttp's retry of
// idempotent requests is switched off), so every failure is counted.
type HTTP struct {
	cfg   HTTPConfig
	uri   *url.URL
	addr  string
	isTLS bool
	// The event loop's request bytes and server address (httploop.go).
	rawRequest []byte
	sockaddr   unix.Sockaddr
}

// NewHTTP validates cfg.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if err := CheckHTTPInput(cfg.URL, cfg.Method, cfg.Headers); err != nil { // what goes on the wire as it is
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: url %q: %w", ErrConfig, cfg.URL, err)
	}
	if cfg.Method == "" {
		cfg.Method = fasthttp.MethodGet
	}
	if cfg.Connections, err = countOrDefault("connections", cfg.Connections, DefaultConnections, MaxConnections); err != nil {
		return nil, err
	}
	if cfg.Threads == 0 {
		cfg.Threads = DefaultThreads(cfg.Connections)
	}
	if err := CheckThreads(cfg.Threads, cfg.Connections); err != nil {
		return nil, err
	}
	if err := cfg.Share.check(cfg.Threads); err != nil {
		return nil, err
	}
	if cfg.Timeout, err = timeoutOrDefault(cfg.Timeout); err != nil {
		return nil, err
	}
	if cfg.ExpectStatus != 0 && (cfg.ExpectStatus < 200 || cfg.ExpectStatus >= maxStatus) {
		return nil, fmt.Errorf("%w: expected status %d: want a final status, 200 to 599", ErrConfig, cfg.ExpectStatus)
	}
	if cfg.ExpectBodySize < 0 {
		return nil, fmt.Errorf("%w: expected body size %d: want a byte count, or 0 for any size", ErrConfig, cfg.ExpectBodySize)
	}
	if cfg.Arrivals == "" {
		cfg.Arrivals = Constant
	}
	if _, err := ParseArrivals(string(cfg.Arrivals)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	h := &HTTP{cfg: cfg, uri: u, addr: addr, isTLS: u.Scheme == "https"}
	h.buildRawRequest()
	return h, nil
}

// userAgentGiven reports whether the user's headers hold a User-Agent,
// which then replaces the generator's own ("ukbench").
func (h *HTTP) userAgentGiven() bool {
	for _, hd := range h.cfg.Headers {
		if name, _, _ := strings.Cut(hd, ":"); strings.EqualFold(name, "User-Agent") {
			return true
		}
	}
	return false
}

// Describe implements Generator.
func (h *HTTP) Describe() results.LoadInfo {
	info := results.LoadInfo{
		Server: h.cfg.URL, Arrivals: string(h.cfg.Arrivals), Workers: h.cfg.Connections, Threads: h.cfg.Threads,
		NewConn: h.cfg.NewConnection, TimeoutMS: float64(h.cfg.Timeout) / 1e6,
	}
	h.cfg.Limits.describe(&info)
	return info
}

// httpTally is what one fasthttp worker or one event loop counts during a
// step, owned by it alone; collect merges them at the end.
type httpTally struct {
	live     liveCounters
	rec      *Recorder
	stats    sendStats
	answered uint64
	status   [maxStatus]uint64
	errs     httpErrors
}

// answer counts one whole response to a request intended at at: its
// status and body size decide whether it is a good answer.
func (t *httpTally) answer(h *HTTP, at, sentAt, done, warmup time.Duration, status int, bodyLen int64) {
	if at < warmup {
		if h.good(status, bodyLen) {
			t.live.answered.Add(1)
		}
		return
	}
	if status < 200 || status >= maxStatus {
		// Not an HTTP status, or not a final one: interim responses are
		// skipped (httpResponse, fasthttp), and a 101 switches the
		// connection away from HTTP, which the generator never asks for.
		t.errs.malformed++
		return
	}
	t.status[status]++
	if !h.statusOK(status) {
		return // counted by status code in collect
	}
	if h.cfg.ExpectBodySize > 0 && bodyLen != int64(h.cfg.ExpectBodySize) {
		t.errs.badBody++
		return
	}
	t.answered++
	t.live.answered.Add(1)
	t.rec.Record(at, sentAt, done)
}

type httpErrors struct {
	timeout, connect, reset, other, badBody uint64
	// malformed: a response that does not parse whole (or has a status
	// outside 200–599 as its final one).
	malformed uint64
}

// RunStep implements Generator. It raises GOMAXPROCS for the step (see
// raiseProcs); steps must not run concurrently.
func (h *HTTP) RunStep(ctx context.Context, spec StepSpec) (StepOutcome, error) {
	if h.useLoop() {
		return h.runLoops(ctx, spec)
	}
	return h.runPool(ctx, spec)
}

func (h *HTTP) statusOK(code int) bool {
	if h.cfg.ExpectStatus != 0 {
		return code == h.cfg.ExpectStatus
	}
	return code >= 200 && code < 300
}

func (h *HTTP) good(status int, bodyLen int64) bool {
	return h.statusOK(status) && (h.cfg.ExpectBodySize == 0 || bodyLen == int64(h.cfg.ExpectBodySize))
}

// count classifies a failed request.
func (e *httpErrors) count(err error) {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		e.timeout++
	case errors.As(err, &op) && op.Op == "dial", errors.Is(err, syscall.ECONNREFUSED):
		e.connect++
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		e.reset++
	case unparsable(err):
		e.malformed++ // as the event loop counts a response that does not parse
	default:
		e.other++
	}
}

// fasthttpParseErrors are fasthttp's errors for a response that does not
// parse (its status line, headers, body framing or trailer).
var fasthttpParseErrors = []error{
	fasthttp.ErrReadingResponseHeaders, fasthttp.ErrResponseFirstLineMissingSpace,
	fasthttp.ErrUnexpectedStatusCodeChar, fasthttp.ErrNonNumericChars, fasthttp.ErrDuplicateContentLength,
	fasthttp.ErrUnsupportedTransferEncoding, fasthttp.ErrNeedMore, fasthttp.ErrBodyTooLarge,
	fasthttp.ErrReadingResponseTrailer, fasthttp.ErrBadTrailer,
}

// unparsable says whether err is fasthttp's word that the response did not
// parse. Most of its parse errors are plain text under a wrapped prefix
// (header.go: "error when reading response headers: %w" around a
// fmt.Errorf without a sentinel), so besides its sentinels and error types
// the prefix is what tells; network errors under the same prefix are
// counted before this is asked (timeout, connect, reset).
func unparsable(err error) bool {
	var small *fasthttp.ErrSmallBuffer
	var chunk *fasthttp.ErrBrokenChunk
	if errors.As(err, &small) || errors.As(err, &chunk) {
		return true
	}
	for _, p := range fasthttpParseErrors {
		if errors.Is(err, p) {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "error when reading response headers") || strings.Contains(msg, "error when reading response body") ||
		strings.Contains(msg, "cannot parse")
}

// collect merges the tallies of a step's workers or loops into its
// record. It runs after every one of them has ended.
func (h *HTTP) collect(spec StepSpec, tallies []*httpTally) StepOutcome {
	t := newStepTotal(spec)
	var errs httpErrors
	var status [maxStatus]uint64
	for _, w := range tallies {
		t.add(w.rec, w.stats, w.answered)
		errs.timeout += w.errs.timeout
		errs.connect += w.errs.connect
		errs.reset += w.errs.reset
		errs.other += w.errs.other
		errs.badBody += w.errs.badBody
		errs.malformed += w.errs.malformed
		for i, c := range w.status {
			status[i] += c
		}
	}
	step := &t.step
	addNonZero(step.Errors, "timeout", errs.timeout)
	addNonZero(step.Errors, "connect", errs.connect)
	addNonZero(step.Errors, "reset", errs.reset)
	addNonZero(step.Errors, "other", errs.other)
	addNonZero(step.Errors, "body", errs.badBody)
	addNonZero(step.Errors, "malformed", errs.malformed)
	for code, c := range status {
		addNonZero(step.Codes, strconv.Itoa(code), c)
		if c != 0 && !h.statusOK(code) {
			step.Errors["status_"+strconv.Itoa(code)] += c
		}
	}
	return t.outcome(spec, h.cfg.Limits)
}
