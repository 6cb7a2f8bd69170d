package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"

	"github.com/ukbench/ukbench/results"
)

// maxStatus bounds the status codes counted one by one.
const maxStatus = 600

// HTTPConfig configures an HTTP load generator.
type HTTPConfig struct {
	URL     string   // http://host:port/path
	Method  string   // default GET
	Headers []string // "Name: value"
	Body    []byte   // request body, if any
	// Connections is the number of workers, each with one connection; the
	// pacer hands each request to an idle one. Default DefaultConnections,
	// at most MaxConnections.
	Connections int
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

// HTTP is an open-loop HTTP/1.1 load generator. Plain http runs on epoll
// event loops (httploop.go), keep-alive or a new connection per request.
// https runs on fasthttp: one pacer goroutine follows the schedule and
// hands each request, at its intended time, to an idle worker; each worker
// owns one connection and parks in the netpoller while its request runs.
// Either way a request that finds no free connection waits for one and is
// counted as blocked; its latency still runs from its intended time. It
// never retries (fasthttp's retry of idempotent requests is switched off),
// so every failure is counted.
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
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: url %q: want http://HOST:PORT/PATH", ErrConfig, cfg.URL)
	}
	if cfg.Method == "" {
		cfg.Method = fasthttp.MethodGet
	}
	for _, h := range cfg.Headers {
		name, _, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, fmt.Errorf("%w: header %q: want \"Name: value\"", ErrConfig, h)
		}
	}
	if cfg.Connections == 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.Connections < 0 || cfg.Connections > MaxConnections {
		return nil, fmt.Errorf("%w: connections %d: want 1 to %d", ErrConfig, cfg.Connections, MaxConnections)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: timeout %v must be positive", ErrConfig, cfg.Timeout)
	}
	if cfg.ExpectStatus != 0 && (cfg.ExpectStatus < 100 || cfg.ExpectStatus >= maxStatus) {
		return nil, fmt.Errorf("%w: expected status %d: want 100 to 599", ErrConfig, cfg.ExpectStatus)
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

// Describe implements Generator.
func (h *HTTP) Describe() results.LoadInfo {
	return results.LoadInfo{
		Server: h.cfg.URL, Arrivals: string(h.cfg.Arrivals), Workers: h.cfg.Connections,
		NewConn: h.cfg.NewConnection, TimeoutMS: float64(h.cfg.Timeout) / 1e6,
		LateAfterUS: float64(h.cfg.Limits.LateAfter.Microseconds()), MaxLateFrac: h.cfg.Limits.MaxLateFraction,
		TimerSlackUS: float64(h.cfg.Limits.TimerSlack) / 1e3,
	}
}

// httpWorker is one connection. The pacer hands it requests through due
// (1 slot) when idle is set; everything else is owned by the worker's
// goroutine until it ends.
type httpWorker struct {
	due  chan httpJob
	idle atomic.Bool
	// conn is the worker's current connection, set by its dial function,
	// so that an interrupted step can close it under a request in flight.
	conn atomic.Pointer[net.Conn]

	client *fasthttp.HostClient
	req    *fasthttp.Request
	resp   *fasthttp.Response
	httpTally
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
	if status >= 0 && status < maxStatus {
		t.status[status]++
	}
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
}

// httpJob is one request handed to a worker.
type httpJob struct {
	at      time.Duration // intended send time
	blocked bool          // it, or a request ahead of it, waited for an idle worker
}

func (h *HTTP) newWorker() *httpWorker {
	w := &httpWorker{httpTally: httpTally{rec: NewRecorder()}, due: make(chan httpJob, 1)}
	w.idle.Store(true)
	w.client = &fasthttp.HostClient{
		Addr:                      h.addr,
		IsTLS:                     h.isTLS,
		MaxConns:                  1,
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		ReadTimeout:               h.cfg.Timeout,
		WriteTimeout:              h.cfg.Timeout,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
		Dial: func(addr string) (net.Conn, error) {
			c, err := fasthttp.DialTimeout(addr, h.cfg.Timeout)
			if err == nil {
				w.conn.Store(&c)
			}
			return c, err
		},
	}
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(h.uri.String())
	req.Header.SetMethod(h.cfg.Method)
	req.Header.Set("User-Agent", "ukbench")
	for _, hd := range h.cfg.Headers {
		name, value, _ := strings.Cut(hd, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if len(h.cfg.Body) > 0 {
		req.SetBody(h.cfg.Body)
	}
	if h.cfg.NewConnection {
		req.SetConnectionClose()
	}
	w.req = req
	w.resp = fasthttp.AcquireResponse()
	return w
}

func (w *httpWorker) release() {
	w.client.CloseIdleConnections()
	fasthttp.ReleaseRequest(w.req)
	fasthttp.ReleaseResponse(w.resp)
}

// RunStep implements Generator. It raises GOMAXPROCS for the step (see
// raiseProcs); steps must not run concurrently.
func (h *HTTP) RunStep(ctx context.Context, spec StepSpec) (StepOutcome, error) {
	if err := checkStep(spec); err != nil {
		return StepOutcome{}, err
	}
	if h.useLoop() {
		return h.runLoops(ctx, spec)
	}
	workers := make([]*httpWorker, h.cfg.Connections)
	counters := make([]*liveCounters, len(workers))
	for i := range workers {
		workers[i] = h.newWorker()
		counters[i] = &workers[i].live
	}
	defer func() {
		for _, w := range workers {
			w.release()
		}
	}()
	defer raiseProcs(2)() // the pacer's sleeps hold a P briefly; the workers keep one
	var stop atomic.Bool
	clk := newClock()
	end := watchStep(ctx, spec, clk, &stop, counters)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); h.work(w, clk, spec.Warmup) }()
	}
	pacer := NewPacer(h.cfg.Arrivals, spec.Rate, spec.Warmup+spec.Duration, 0, 1, h.cfg.Seed)
	h.pace(pacer, workers, clk, &stop)
	if stop.Load() {
		// Interrupted: end the requests in flight now rather than at
		// their timeout.
		for _, w := range workers {
			if c := w.conn.Load(); c != nil {
				(*c).Close()
			}
		}
	}
	wg.Wait()
	end()
	if err := ctx.Err(); err != nil {
		return StepOutcome{}, fmt.Errorf("step at %.0f/s interrupted: %w", spec.Rate, err)
	}
	tallies := make([]*httpTally, len(workers))
	for i, w := range workers {
		tallies[i] = &w.httpTally
	}
	return h.collect(spec, tallies).startedAt(clk), nil
}

// pace follows the schedule and hands each request to an idle worker, then
// closes the workers' queues. Only the pacer sets idle to false and sends
// on due, so a worker seen idle has an empty slot. The pacer is an ordinary
// goroutine that yields after each hand-off, so the worker runs at once on
// the same P (a goroutine switch, no thread wake-up); measured against a
// pacer on its own locked thread, this cost 20–25 % less CPU per request
// and sent more requests on time (BENCHMARKS.md). Its sleeps therefore use
// the thread's default timer slack, not Limits.TimerSlack.
func (h *HTTP) pace(p Pacer, workers []*httpWorker, clk clock, stop *atomic.Bool) {
	defer func() {
		for _, w := range workers {
			close(w.due)
		}
	}()
	next := 0
	waited := false // a request waited for a worker and the schedule has not caught up since
	for n := uint64(0); ; n++ {
		at, ok := p.Due(n)
		if !ok {
			return
		}
		if at > clk.now() {
			waited = false
		}
		if !clk.sleepUntilSharingP(at, stop) {
			return
		}
		for {
			w := idleWorker(workers, &next)
			if w != nil {
				w.idle.Store(false)
				w.due <- httpJob{at: at, blocked: waited}
				runtime.Gosched()
				break
			}
			// Every connection is busy: wait for one.
			waited = true
			if !clk.sleepUntilSharingP(clk.now()+20*time.Microsecond, stop) {
				return
			}
		}
	}
}

// idleWorker returns the first idle worker from *next on, round robin, or
// nil when all are busy.
func idleWorker(workers []*httpWorker, next *int) *httpWorker {
	for range workers {
		w := workers[*next]
		*next++
		if *next == len(workers) {
			*next = 0
		}
		if w.idle.Load() {
			return w
		}
	}
	return nil
}

// work sends the requests the pacer hands over until its queue is closed.
// Workers are ordinary goroutines: they spend their time in the netpoller.
func (h *HTTP) work(w *httpWorker, clk clock, warmup time.Duration) {
	lateAfter := h.cfg.Limits.LateAfter
	for job := range w.due {
		at := job.at
		sentAt := clk.now()
		w.stats.account(at, sentAt, warmup, lateAfter, job.blocked)
		w.live.sent.Add(1)
		w.resp.Reset()
		err := w.client.Do(w.req, w.resp)
		done := clk.now()
		w.record(h, at, sentAt, done, warmup, err)
		w.idle.Store(true)
	}
}

// record counts one finished request.
func (w *httpWorker) record(h *HTTP, at, sentAt, done, warmup time.Duration, err error) {
	if err != nil {
		if at >= warmup {
			w.errs.count(err)
		}
		return
	}
	w.answer(h, at, sentAt, done, warmup, w.resp.StatusCode(), int64(len(w.resp.Body())))
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
	default:
		e.other++
	}
}

func (h *HTTP) collect(spec StepSpec, tallies []*httpTally) StepOutcome {
	rec := NewRecorder()
	var st sendStats
	var errs httpErrors
	var status [maxStatus]uint64
	step := results.Step{
		OfferedRPS: spec.Rate, DurationS: spec.Duration.Seconds(),
		Errors: map[string]uint64{}, Codes: map[string]uint64{},
	}
	for _, w := range tallies {
		rec.Merge(w.rec)
		st.add(w.stats)
		step.Answered += w.answered
		errs.timeout += w.errs.timeout
		errs.connect += w.errs.connect
		errs.reset += w.errs.reset
		errs.other += w.errs.other
		errs.badBody += w.errs.badBody
		for i, c := range w.status {
			status[i] += c
		}
	}
	addNonZero(step.Errors, "timeout", errs.timeout)
	addNonZero(step.Errors, "connect", errs.connect)
	addNonZero(step.Errors, "reset", errs.reset)
	addNonZero(step.Errors, "other", errs.other)
	addNonZero(step.Errors, "body", errs.badBody)
	for code, c := range status {
		addNonZero(step.Codes, strconv.Itoa(code), c)
		if c != 0 && !h.statusOK(code) {
			step.Errors["status_"+strconv.Itoa(code)] += c
		}
	}
	step.Sent = st.sent
	step.Lag = st.lag()
	step.AchievedRPS = float64(step.Answered) / spec.Duration.Seconds()
	step.LatencyUS = Summarize(rec.Latency)
	step.ServiceUS = Summarize(rec.Service)
	h.cfg.Limits.judge(&step)
	return StepOutcome{Step: step, Hist: rec}
}
