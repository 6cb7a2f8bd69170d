package loadgen

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The HTTP generator's fasthttp path, for https and the requests the event
// loop does not take (useLoop, httploop.go): each of HTTPConfig.Threads
// lanes is a pacer goroutine that follows its share of the schedule and
// hands each request, at its intended time, to an idle worker of its own;
// each worker owns one connection and parks in the netpoller while its
// request runs.

// httpPool is one pacer and its workers: one lane of a fasthttp step.
type httpPool struct {
	h       *HTTP
	workers []*httpWorker
	pacer   Pacer
	cutoff  time.Duration // no request leaves after it (schedule end + SendGrace)
}

// runPool runs a step on HTTPConfig.Threads fasthttp lanes, each a pacer
// with its share of the workers and of the schedule.
func (h *HTTP) runPool(ctx context.Context, spec StepSpec) (StepOutcome, error) {
	n := h.cfg.Threads
	open := func(i int) (*httpPool, error) { return h.openPool(spec, i, n), nil }
	// A pacer's sleeps hold a P briefly (pace); its workers share it, and
	// one more runs the rest of the program.
	return runStep(ctx, spec, n, n+1, open, h.collectPool)
}

// openPool opens lane i of n: its pacer and its workers.
func (h *HTTP) openPool(spec StepSpec, i, n int) *httpPool {
	p := &httpPool{h: h, workers: make([]*httpWorker, laneShare(h.cfg.Connections, i, n)),
		pacer:  h.cfg.Share.pacer(h.cfg.Arrivals, spec.Rate, spec.Warmup+spec.Duration, i, n, h.cfg.Seed),
		cutoff: spec.Warmup + spec.Duration + SendGrace}
	for i := range p.workers {
		p.workers[i] = h.newWorker()
	}
	return p
}

func (p *httpPool) counters() []*liveCounters {
	c := make([]*liveCounters, len(p.workers))
	for i, w := range p.workers {
		c[i] = &w.live
	}
	return c
}

func (p *httpPool) close() {
	for _, w := range p.workers {
		w.release()
	}
}

// run starts the workers, paces the schedule, and waits for the workers
// to finish their last requests.
func (p *httpPool) run(clk clock, warmup time.Duration, stop *atomic.Bool) {
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Add(1)
		w.stats.begin(w.rec, warmup, p.cutoff-SendGrace, p.h.cfg.Limits.LateAfter)
		go func() { defer wg.Done(); p.h.work(w, clk, warmup) }()
	}
	never := p.h.pace(p.pacer, p.workers, clk, warmup, p.cutoff, stop)
	if stop.Load() {
		// Interrupted: end the requests in flight now rather than at
		// their timeout.
		for _, w := range p.workers {
			if c := w.conn.Load(); c != nil {
				(*c).Close()
			}
		}
	}
	wg.Wait()
	p.workers[0].stats.neverSent += never
}

func (h *HTTP) collectPool(spec StepSpec, pools []*httpPool) StepOutcome {
	var tallies []*httpTally
	for _, p := range pools {
		for _, w := range p.workers {
			tallies = append(tallies, &w.httpTally)
		}
	}
	return h.collect(spec, tallies)
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
	if !h.userAgentGiven() {
		req.Header.Set("User-Agent", "ukbench")
	}
	for _, hd := range h.cfg.Headers {
		// Add: a header given twice is sent twice, as the event loop does.
		name, value, _ := strings.Cut(hd, ":")
		req.Header.Add(name, strings.Trim(value, " \t"))
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

// pace follows the schedule and hands each request to an idle worker, then
// closes the workers' queues. Only the pacer sets idle to false and sends
// on due, so a worker seen idle has an empty slot. The pacer is an ordinary
// goroutine that yields after each hand-off, so the worker runs at once on
// the same P (a goroutine switch, no thread wake-up); measured against a
// pacer on its own locked thread, this cost 20–25 % less CPU per request
// and sent more requests on time (BENCHMARKS.md). Its sleeps therefore use
// the thread's default timer slack, not Limits.TimerSlack. No request
// leaves after cutoff: pace returns how many measured ones (intended at or
// after warmup) were still due then.
func (h *HTTP) pace(p Pacer, workers []*httpWorker, clk clock, warmup, cutoff time.Duration, stop *atomic.Bool) (unsent uint64) {
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
			return 0
		}
		if at > clk.now() {
			waited = false
		}
		if !clk.sleepUntilSharingP(at, stop) {
			return 0
		}
		for {
			if clk.now() >= cutoff {
				return neverSent(p, n, warmup)
			}
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
				return 0
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
	for job := range w.due {
		at := job.at
		sentAt := clk.now()
		w.stats.account(at, sentAt, job.blocked)
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
