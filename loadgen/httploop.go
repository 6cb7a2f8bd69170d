package loadgen

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The keep-alive HTTP generator's event loop: one OS thread drives many
// non-blocking connections through epoll, sending each request at its
// intended time and reading the answers as they arrive, as wrk's event
// loop does, with no goroutine hand-off per request (which made the
// fasthttp path cost 3x wrk's CPU per request and wake late at low rates).
// Used for plain http, keep-alive or a new connection per request; https
// uses the fasthttp workers.

// scanEvery is how often a loop looks for requests past their timeout.
const scanEvery = time.Millisecond

// loopConn states.
const (
	connDown       = iota // no socket; connects when given a request
	connIdle              // connected, no request
	connConnecting        // connecting, a request waiting to be written
	connBusy              // request written, reading the response
	connDraining          // new connection per request: answered, waiting for the server to close
)

type loopConn struct {
	fd     int
	gen    int32 // bumped per socket, so a stale event is not taken for the next
	state  int
	at     time.Duration // intended send time of the request in flight
	sentAt time.Duration // when it was handed to the connection
	resp   httpResponse
}

// httpLoop is one loop thread (a lane, step.go) and its connections;
// everything in it is owned by that thread until the step ends.
type httpLoop struct {
	h    *HTTP
	sa   unix.Sockaddr // the server's address, this loop's own copy (ownSockaddr)
	req  []byte
	head bool
	// newConn: one connection per request (httperf's method). After the
	// response the connection waits for the server's close before it is
	// closed, so the TIME_WAIT stays on the server's side, as a client that
	// asked for Connection: close would have it.
	newConn bool
	conns   []loopConn
	idle    []int // connections free for a request (connIdle or connDown), a stack
	epfd    int
	keeper  int // holds arrival stamping on (holdArrivalStamps); -1 if none
	events  [128]unix.EpollEvent
	rbuf    [64 << 10]byte
	reader  stampedReader
	pacer   Pacer
	clk     clock
	// cutoff is when sending ends whatever was due (schedule end +
	// SendGrace); deadline is when the loop ends whatever happens (run).
	cutoff, deadline time.Duration

	httpTally
	inflight int

	// The schedule's state: the next request's intended time (next),
	// whether there is one (more), how many were sent, and whether the next
	// one is waiting for a free connection (blocked).
	next      time.Duration
	more      bool
	sent      uint64
	blocked   bool
	warmup    time.Duration // the step's: requests intended before it are sent, not counted
	wakeAhead time.Duration // how long before a send the loop stops sleeping: twice the timer slack
}

// useLoop reports whether a step can run on the event loop.
func (h *HTTP) useLoop() bool {
	return !h.isTLS && len(h.rawRequest) <= 16<<10 && h.sockaddr != nil
}

// buildRawRequest writes the request once, as it goes on the wire.
func (h *HTTP) buildRawRequest() {
	path := h.uri.RequestURI()
	b := []byte(h.cfg.Method + " " + path + " HTTP/1.1\r\nHost: " + h.uri.Host + "\r\n")
	if !h.userAgentGiven() {
		b = append(b, "User-Agent: ukbench\r\n"...)
	}
	for _, hd := range h.cfg.Headers {
		name, value, _ := strings.Cut(hd, ":")
		b = append(b, name+": "+strings.Trim(value, " \t")+"\r\n"...)
	}
	if h.cfg.NewConnection {
		b = append(b, "Connection: close\r\n"...)
	}
	if len(h.cfg.Body) > 0 || h.cfg.Method == "POST" || h.cfg.Method == "PUT" {
		b = append(b, "Content-Length: "+strconv.Itoa(len(h.cfg.Body))+"\r\n"...)
	}
	b = append(b, "\r\n"...)
	h.rawRequest = append(b, h.cfg.Body...)
	if ap, err := netipAddrPort(h.addr); err == nil {
		h.sockaddr = ap
	}
}

// netipAddrPort resolves HOST:PORT once to a socket address.
func netipAddrPort(addr string) (unix.Sockaddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	return sockaddrOf(ta.IP, ta.Port), nil
}

// sockaddrOf is ip:port as a socket address (IPv4 when ip is one).
func sockaddrOf(ip net.IP, port int) unix.Sockaddr {
	if ip4 := ip.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		return sa
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ip.To16())
	return sa
}

// runLoops runs a step on HTTPConfig.Threads event loops, each a lane
// on its own locked OS thread driving its share of the connections and
// of the schedule.
func (h *HTTP) runLoops(ctx context.Context, spec StepSpec) (StepOutcome, error) {
	n := h.cfg.Threads
	// Open the connections before the schedule starts, as wrk does, so
	// that keep-alive latency holds no TCP handshakes (a lost SYN alone
	// costs a second). Those that fail connect when first used, counted.
	limit := time.Now().Add(min(h.cfg.Timeout, time.Second))
	open := func(i int) (*httpLoop, error) { return h.openLoop(spec, i, n, limit) }
	// Each loop keeps its P while it sleeps (rawNanosleep): one more for
	// the rest of the program.
	return runStep(ctx, spec, n, n+1, open, h.collectLoops)
}

// openLoop opens lane i of n: an event loop with its share of the
// connections (laneShare) and of the schedule (NewPacer's i of n). Keep-
// alive connections are opened before it returns, by limit at most.
func (h *HTTP) openLoop(spec StepSpec, i, n int, limit time.Time) (*httpLoop, error) {
	l, err := h.newLoop(laneShare(h.cfg.Connections, i, n))
	if err != nil {
		return nil, err
	}
	length := spec.Warmup + spec.Duration
	l.pacer = h.cfg.Share.pacer(h.cfg.Arrivals, spec.Rate, length, i, n, h.cfg.Seed)
	// No request leaves after the cutoff (those still due are counted as
	// never sent) and every request ends by its timeout, so the loop ends
	// by cutoff + timeout; the deadline is a second later, a bound that
	// holds whatever happens (what is still in flight then times out).
	l.cutoff = length + SendGrace
	l.deadline = l.cutoff + h.cfg.Timeout + time.Second
	if !h.cfg.NewConnection {
		l.preconnect(limit)
	}
	return l, nil
}

func (h *HTTP) newLoop(conns int) (*httpLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	l := &httpLoop{h: h, sa: ownSockaddr(h.sockaddr), req: h.rawRequest, head: h.cfg.Method == "HEAD", newConn: h.cfg.NewConnection, epfd: epfd, keeper: holdArrivalStamps(),
		conns: make([]loopConn, conns), httpTally: httpTally{rec: NewRecorder()}}
	for i := range l.conns {
		l.conns[i].fd = -1
		l.idle = append(l.idle, len(l.conns)-1-i)
	}
	return l, nil
}

func (l *httpLoop) counters() []*liveCounters { return []*liveCounters{&l.live} }

func (l *httpLoop) close() {
	for i := range l.conns {
		l.drop(i)
	}
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		l.epfd = -1
	}
	if l.keeper >= 0 {
		unix.Close(l.keeper)
		l.keeper = -1
	}
}

// drop closes connection i's socket; it becomes connDown.
func (l *httpLoop) drop(i int) {
	c := &l.conns[i]
	if c.fd >= 0 {
		unix.Close(c.fd) // also leaves the epoll set
		c.fd = -1
	}
	c.state = connDown
}

// run follows the loop's share of the schedule, then waits for the answers
// in flight until they arrive or time out. Sends that fall due while a
// batch of events is handled go out between those events, so a burst of
// answers after a stall does not make the next sends late.
func (l *httpLoop) run(clk clock, warmup time.Duration, stop *atomic.Bool) {
	lockPacingThread(l.h.cfg.Limits.TimerSlack)
	l.clk = clk
	deadline := l.deadline
	l.warmup = warmup
	l.stats.begin(l.rec, warmup, l.cutoff-SendGrace, l.h.cfg.Limits.LateAfter)
	l.wakeAhead = 2 * l.h.cfg.Limits.TimerSlack
	timeout := l.h.cfg.Timeout
	l.next, l.more = l.pacer.Due(0)
	lastScan := time.Duration(0)
	// Whatever is in flight when the loop ends has had its time.
	defer l.expire(1<<62, 0)
	for !stop.Load() {
		now := l.clk.now()
		if l.more && now >= l.cutoff {
			// The step's time is up whatever was due: what never left is
			// counted, and the step is invalid (judge).
			l.stats.neverSent += neverSent(l.pacer, l.sent, l.warmup)
			l.more, l.blocked = false, false
		}
		l.sendDue(now)
		if (!l.more && l.inflight == 0) || now > deadline {
			return
		}
		if now-lastScan >= scanEvery {
			l.expire(now, timeout)
			lastScan = now
		}
		// Wait for answers until shortly before the next send is due (or
		// a scan), then poll: the kernel may wake a sleeper up to the timer
		// slack late, and a wake-up on a virtual machine takes tens of µs
		// more, so a sleep to the due time sends about 110 µs late at
		// 2,000/s. Waking wakeAhead early and polling the rest sends on
		// time for some CPU (BENCHMARKS.md).
		wait := maxSleepChunk
		if l.more && !l.blocked {
			wait = min(wait, l.next-l.clk.now()-l.wakeAhead)
		}
		if l.inflight > 0 || l.blocked {
			// Scan for timeouts (a blocked loop may be waiting for an
			// answered connection's server to close it).
			wait = min(wait, scanEvery)
		}
		if wait < 0 {
			wait = 0
		}
		k := epollWait(l.epfd, l.events[:], wait)
		for j, ev := range l.events[:max(k, 0)] {
			done := l.clk.now()
			if j > 0 {
				l.sendDue(done)
			}
			if c := &l.conns[ev.Fd]; c.fd >= 0 && c.gen == ev.Pad {
				l.event(int(ev.Fd), ev.Events, done)
			}
		}
	}
}

// sendDue sends every request due by now on free connections. When none is
// free the next request waits, marked blocked, and is counted when it
// leaves.
func (l *httpLoop) sendDue(now time.Duration) {
	for l.more && l.next <= now {
		if len(l.idle) == 0 {
			l.blocked = true
			return
		}
		i := l.idle[len(l.idle)-1]
		l.idle = l.idle[:len(l.idle)-1]
		sentAt := l.clk.now()
		l.stats.account(l.next, sentAt, l.blocked)
		l.live.sent.Add(1)
		c := &l.conns[i]
		c.at, c.sentAt = l.next, sentAt
		l.inflight++
		l.send(i)
		l.sent++
		l.next, l.more = l.pacer.Due(l.sent)
	}
	// Caught up: the sends that queued behind a wait have all left.
	l.blocked = false
}

// send writes connection i's request, connecting first when it has no
// socket.
func (l *httpLoop) send(i int) {
	c := &l.conns[i]
	c.resp.reset(l.head)
	if c.state == connDown {
		l.connect(i)
		return
	}
	nw, err := rawWrite(c.fd, l.req)
	if err != nil || nw != len(l.req) {
		// A server may have closed an idle connection: the request never
		// left, so it goes out on a new one (not a retry: nothing was sent).
		l.drop(i)
		l.connect(i)
		return
	}
	c.state = connBusy
}

// dial opens a socket for connection i, adds it to the loop's epoll set
// and starts a non-blocking connect. It returns nil once connected,
// unix.EINPROGRESS while connecting, or the error, leaving any socket for
// the caller to drop.
func (l *httpLoop) dial(i int) error {
	c := &l.conns[i]
	fd, err := unix.Socket(sockFamily(l.sa), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	enableArrivalStamps(fd)
	c.fd = fd
	c.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: int32(i), Pad: c.gen}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	return unix.Connect(fd, l.sa)
}

// connect starts a non-blocking connect for connection i; its request is
// written when the connect completes.
func (l *httpLoop) connect(i int) {
	switch err := l.dial(i); err {
	case nil:
		l.connected(i)
	case unix.EINPROGRESS:
		l.conns[i].state = connConnecting
	default:
		l.fail(i, &l.errs.connect)
	}
}

// preconnect opens every connection of the loop, waiting until deadline at
// most; a connection not up by then is closed and connects again when a
// request needs it.
func (l *httpLoop) preconnect(deadline time.Time) {
	pending := 0
	for i := range l.conns {
		switch err := l.dial(i); err {
		case nil:
			l.upIdle(i)
		case unix.EINPROGRESS:
			l.conns[i].state = connConnecting
			pending++
		default:
			l.drop(i)
		}
	}
	for pending > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		k := epollWait(l.epfd, l.events[:], left)
		for _, ev := range l.events[:max(k, 0)] {
			i := int(ev.Fd)
			if c := &l.conns[i]; c.state == connConnecting && c.gen == ev.Pad {
				pending--
				if soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soErr != 0 {
					l.drop(i)
					continue
				}
				l.upIdle(i)
			}
		}
	}
	for i := range l.conns {
		if l.conns[i].state == connConnecting {
			l.drop(i)
		}
	}
}

// upIdle makes connected connection i idle, waiting for a request.
func (l *httpLoop) upIdle(i int) {
	c := &l.conns[i]
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i), Pad: c.gen}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
	c.state = connIdle
}

// connected writes the waiting request once the connect has succeeded.
func (l *httpLoop) connected(i int) {
	c := &l.conns[i]
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i), Pad: c.gen}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
	nw, err := rawWrite(c.fd, l.req)
	if err != nil || nw != len(l.req) {
		l.fail(i, &l.errs.reset)
		return
	}
	c.state = connBusy
}

// ownSockaddr is a copy of sa for one loop's own use: unix.Connect writes
// the raw form of the address into the Sockaddr it is given, so loops
// running at once must not share one.
func ownSockaddr(sa unix.Sockaddr) unix.Sockaddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &unix.SockaddrInet4{Port: a.Port, Addr: a.Addr}
	case *unix.SockaddrInet6:
		return &unix.SockaddrInet6{Port: a.Port, ZoneId: a.ZoneId, Addr: a.Addr}
	}
	return sa
}

func sockFamily(sa unix.Sockaddr) int {
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// fail ends connection i's request with an error of the given kind and
// closes its socket.
func (l *httpLoop) fail(i int, kind *uint64) {
	c := &l.conns[i]
	if c.at >= l.warmup {
		*kind++
	}
	l.drop(i)
	l.finish(i)
}

// release closes answered connection i (a new connection per request) and
// returns it to the free stack; its request was counted out of inflight
// when the answer came.
func (l *httpLoop) release(i int) {
	l.drop(i)
	l.idle = append(l.idle, i)
}

// finish returns connection i to the free stack.
func (l *httpLoop) finish(i int) {
	l.inflight--
	l.idle = append(l.idle, i)
}

// event handles readiness of connection i.
func (l *httpLoop) event(i int, events uint32, now time.Duration) {
	c := &l.conns[i]
	switch c.state {
	case connConnecting:
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soErr != 0 {
			l.fail(i, &l.errs.connect)
			return
		}
		l.connected(i)
	case connIdle:
		// The server closed (or wrote to) a connection with no request:
		// drop it; the next request reconnects.
		l.drop(i)
	case connBusy:
		l.read(i, now)
	case connDraining:
		// The server's close (or bytes it should not have sent): either
		// way the connection is done.
		l.release(i)
	}
}

// read takes what connection i has and completes its request when the
// response is whole, timed at the arrival of its last byte (or now, when
// the kernel gave no arrival stamp).
func (l *httpLoop) read(i int, now time.Duration) {
	c := &l.conns[i]
	for {
		nr, at, stamped, err := l.reader.read(c.fd, l.rbuf[:], l.clk)
		if err == unix.EAGAIN {
			return
		}
		if !stamped {
			at = now
		}
		if err != nil || nr == 0 {
			if err == nil && c.resp.eof() {
				l.complete(i, now)
				l.drop(i)
				l.finish(i)
				return
			}
			l.fail(i, &l.errs.reset)
			return
		}
		done, perr := c.resp.feed(l.rbuf[:nr])
		if perr != nil {
			l.fail(i, &l.errs.malformed)
			return
		}
		if done {
			l.complete(i, at)
			switch {
			case l.newConn:
				// Answered; the connection is free once the server
				// has closed it (the next event, or the timeout).
				l.inflight--
				c.state = connDraining
				return
			case c.resp.close:
				l.drop(i)
			default:
				c.state = connIdle
			}
			l.finish(i)
			return
		}
		if nr < len(l.rbuf) {
			return
		}
	}
}

// complete counts a whole response.
func (l *httpLoop) complete(i int, now time.Duration) {
	c := &l.conns[i]
	l.answer(l.h, c.at, c.sentAt, now, l.warmup, c.resp.status, c.resp.bodyLen)
}

// expire ends the requests older than the timeout, and closes answered
// connections whose server has not closed them within it.
func (l *httpLoop) expire(now, timeout time.Duration) {
	for i := range l.conns {
		c := &l.conns[i]
		if now-c.sentAt <= timeout {
			continue
		}
		switch c.state {
		case connBusy, connConnecting:
			l.fail(i, &l.errs.timeout)
		case connDraining:
			l.release(i)
		}
	}
}

func (h *HTTP) collectLoops(spec StepSpec, loops []*httpLoop) StepOutcome {
	tallies := make([]*httpTally, len(loops))
	for i, l := range loops {
		tallies[i] = &l.httpTally
	}
	return h.collect(spec, tallies)
}

// rawWrite is write(2) on a non-blocking socket, which never blocks: called
// without the scheduler's syscall bookkeeping.
func rawWrite(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
