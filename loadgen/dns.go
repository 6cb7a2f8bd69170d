package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/results"
)

const (
	dnsIDs       = 1 << 16 // DNS IDs, hence in-flight queries, per socket
	dnsBatch     = 64      // messages per sendmmsg/recvmmsg
	dnsMaxAnswer = 4096
)

// DNSConfig configures a DNS load generator.
type DNSConfig struct {
	Server    string        // host:port of the DNS server
	Transport string        // TransportUDP (default) or TransportTCP: pipelined queries on persistent connections (RFC 7766)
	Sockets   int           // UDP sockets or TCP connections, each with its own loop and OS thread; default DefaultDNSSockets, at most MaxDNSSockets
	Queries   []DNSQuery    // sent round-robin; default DefaultDNSQueries
	Timeout   time.Duration // a query unanswered this long after its send is lost; default DefaultTimeout
	Arrivals  Arrivals      // default Constant
	Seed      uint64        // for Poisson arrivals
	Limits    Limits
}

// DNS is an open-loop DNS load generator, over UDP or TCP (dnstcp.go). Each socket has one loop
// that follows its share of the schedule and matches answers to in-flight
// queries by ID and question in a table of slots indexed by DNS ID. Loops
// share nothing but progress counters, so the hot path takes no lock and
// allocates nothing.
type DNS struct {
	cfg       DNSConfig
	addr      *net.UDPAddr
	queries   [][]byte // packed, ID 0
	questions [][]byte // the question section of each packed query

	tcpSendBuffer int // SO_SNDBUF of TCP connections when > 0; set by tests
}

// NewDNS validates cfg and prepares the queries.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	if cfg.Sockets == 0 {
		cfg.Sockets = DefaultDNSSockets
	}
	if cfg.Sockets < 0 || cfg.Sockets > MaxDNSSockets {
		return nil, fmt.Errorf("%w: sockets %d: want 1 to %d", ErrConfig, cfg.Sockets, MaxDNSSockets)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: timeout %v must be positive", ErrConfig, cfg.Timeout)
	}
	if cfg.Arrivals == "" {
		cfg.Arrivals = Constant
	}
	switch cfg.Transport {
	case "":
		cfg.Transport = DefaultDNSTransport
	case TransportUDP, TransportTCP:
	default:
		return nil, fmt.Errorf("%w: transport %q: want udp or tcp", ErrConfig, cfg.Transport)
	}
	if _, err := ParseArrivals(string(cfg.Arrivals)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if len(cfg.Queries) == 0 {
		cfg.Queries = DefaultDNSQueries
	}
	cfg.Limits = cfg.Limits.withDefaults()
	addr, err := resolveUDP(cfg.Server)
	if err != nil {
		return nil, err
	}
	d := &DNS{cfg: cfg, addr: addr}
	for _, q := range cfg.Queries {
		b, err := packQuery(q)
		if err != nil {
			return nil, fmt.Errorf("%w: query %s %s: %v", ErrConfig, q.Name, dns.TypeToString[q.Type], err)
		}
		d.queries = append(d.queries, b)
		d.questions = append(d.questions, b[12:])
	}
	return d, nil
}

func resolveUDP(server string) (*net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(server)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("%w: server address %q: want HOST:PORT, e.g. 127.0.0.1:5353", ErrConfig, server)
	}
	addr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return nil, fmt.Errorf("%w: server address %q: %v", ErrConfig, server, err)
	}
	if addr.Port == 0 {
		return nil, fmt.Errorf("%w: server address %q: port 0", ErrConfig, server)
	}
	return addr, nil
}

// Describe implements Generator.
func (d *DNS) Describe() results.LoadInfo {
	return results.LoadInfo{
		Server: d.addr.String(), Transport: d.cfg.Transport, Arrivals: string(d.cfg.Arrivals), Workers: d.cfg.Sockets,
		TimeoutMS: float64(d.cfg.Timeout) / 1e6, LateAfterUS: float64(d.cfg.Limits.LateAfter.Microseconds()),
		MaxLateFrac:  d.cfg.Limits.MaxLateFraction,
		TimerSlackUS: float64(d.cfg.Limits.TimerSlack) / 1e3,
	}
}

// dnsSlot is the state of one DNS ID of one socket while its query is in
// flight.
type dnsSlot struct {
	busy     bool
	measured bool
	query    uint32
	intended time.Duration // on the step clock
	sent     time.Duration // on the step clock
}

// dnsSocket is one UDP socket and everything its loop owns. One goroutine
// (on its own OS thread) runs the loop: it sends what the schedule makes
// due, and on the same wake-ups reads every answer that has arrived. The
// kernel stamps each answer's arrival (SO_TIMESTAMPNS), so answers need not
// be read the moment they land: receiving costs no extra wake-up, and the
// latency is measured at arrival, free of scheduling delay. No state is
// shared with another goroutine but the live counters.
type dnsSocket struct {
	gen   *DNS
	sock  *udpSocket
	slots []dnsSlot
	live  liveCounters
	clk   clock
	pacer Pacer

	tcp *tcpStream // set for DNS over TCP, instead of sock

	n       uint64 // the next request number in this socket's schedule
	qi      uint64 // the next query (modulo the list); sockets start apart
	blocked bool   // request n has already waited for a free ID
	waited  bool   // a query waited for a free ID and the schedule has not caught up since

	next, oldest uint64 // use numbers: next to hand out; oldest possibly in flight
	stats        sendStats
	timeouts     uint64 // measured queries lost to the timeout
	sendErrors   uint64
	resets       uint64   // measured queries lost with a TCP connection
	connErrors   uint64   // measured queries not sent: no TCP connection
	sendMsgs     [][]byte // the batch being sent; each slices a sendBufs entry
	sendBufs     [][]byte
	batchIntent  [dnsBatch]time.Duration
	batchUse     [dnsBatch]uint64
	batchBlocked [dnsBatch]bool

	rec       *Recorder
	answered  uint64 // measured, good rcode
	rcodes    [16]uint64
	malformed uint64
	mismatch  uint64
	stale     uint64 // answers to queries already answered or timed out
	truncated uint64
}

func (d *DNS) newSocket() (*dnsSocket, error) {
	s := &dnsSocket{gen: d, slots: make([]dnsSlot, dnsIDs), rec: NewRecorder()}
	var err error
	if d.cfg.Transport == TransportTCP {
		s.tcp, err = newTCPStream(d.addr) // it connects at the first send
		if s.tcp != nil {
			s.tcp.sndbuf = d.tcpSendBuffer
		}
	} else {
		s.sock, err = dialUDPSocket(d.addr, dnsBatch, dnsMaxAnswer)
	}
	if err != nil {
		return nil, fmt.Errorf("dns %s socket to %v: %w", d.cfg.Transport, d.addr, err)
	}
	s.sendMsgs = make([][]byte, dnsBatch)
	s.sendBufs = make([][]byte, dnsBatch)
	for i := range s.sendBufs {
		s.sendBufs[i] = make([]byte, 512)
	}
	return s, nil
}

func (s *dnsSocket) close() {
	if s.tcp != nil {
		s.tcp.close()
		return
	}
	s.sock.close()
}

// RunStep implements Generator. It raises GOMAXPROCS for the step (see
// raiseProcs); steps must not run concurrently.
func (d *DNS) RunStep(ctx context.Context, spec StepSpec) (StepOutcome, error) {
	if err := checkStep(spec); err != nil {
		return StepOutcome{}, err
	}
	socks := make([]*dnsSocket, d.cfg.Sockets)
	defer func() {
		for _, s := range socks {
			if s != nil {
				s.close() // every loop has ended (wg.Wait below) or never started
			}
		}
	}()
	defer raiseProcs(d.cfg.Sockets + 1)()
	counters := make([]*liveCounters, len(socks))
	length := spec.Warmup + spec.Duration
	for i := range socks {
		s, err := d.newSocket()
		if err != nil {
			return StepOutcome{}, err
		}
		s.pacer = NewPacer(d.cfg.Arrivals, spec.Rate, length, i, len(socks), d.cfg.Seed)
		s.qi = uint64(i) % uint64(len(d.queries)) // each socket starts at a different query
		socks[i] = s
		counters[i] = &s.live
	}

	var stop atomic.Bool
	clk := newClock()
	end := watchStep(ctx, spec, clk, &stop, counters)
	var wg sync.WaitGroup
	for _, s := range socks {
		s.clk = clk
		wg.Add(1)
		go func() { defer wg.Done(); s.run(spec.Warmup, &stop) }()
	}
	wg.Wait()
	end()
	if err := ctx.Err(); err != nil {
		return StepOutcome{}, fmt.Errorf("step at %.0f/s interrupted: %w", spec.Rate, err)
	}
	return d.collect(spec, socks).startedAt(clk), nil
}

// run follows the socket's share of the schedule, then waits for the
// answers still in flight until they arrive or time out.
func (s *dnsSocket) run(warmup time.Duration, stop *atomic.Bool) {
	lockPacingThread(s.gen.cfg.Limits.TimerSlack)
	clk := s.clk
	lateAfter := s.gen.cfg.Limits.LateAfter
	timeout := s.gen.cfg.Timeout
	for !stop.Load() {
		s.receive()
		now := clk.now()
		s.sweep(now, timeout)
		k, finished := s.prepare(now, warmup)
		if k > 0 {
			s.flush(k, warmup, lateAfter, stop)
			continue // more may have fallen due while sending
		}
		if finished {
			break
		}
		if s.blocked {
			// Out of IDs: wait for answers or timeouts to free one.
			s.wait(now+100*time.Microsecond, stop)
			continue
		}
		at, _ := s.pacer.Due(s.n)
		s.wait(min(at, now+maxReadInterval), stop)
	}
	// Drain: answers may arrive until the timeout of the last send.
	deadline := clk.now() + timeout
	for s.oldest != s.next && !stop.Load() {
		s.receive()
		now := clk.now()
		s.sweep(now, timeout)
		if now > deadline {
			break
		}
		s.wait(now+time.Millisecond, stop)
	}
	s.receive()
	s.sweep(1<<62, 0) // whatever is left is lost
}

// receive takes every answer waiting, without blocking.
func (s *dnsSocket) receive() {
	if s.tcp != nil {
		s.receiveTCP()
		return
	}
	s.receiveUDP()
}

// flush sends the k prepared queries.
func (s *dnsSocket) flush(k int, warmup, lateAfter time.Duration, stop *atomic.Bool) {
	if s.tcp != nil {
		s.flushTCP(k, warmup, lateAfter, stop)
		return
	}
	s.flushUDP(k, warmup, lateAfter)
}

// wait blocks until the clock reads until or stop is set; over TCP also
// until an answer arrives (over UDP answers wait in the socket buffer,
// stamped on arrival, for the next wake-up).
func (s *dnsSocket) wait(until time.Duration, stop *atomic.Bool) {
	if s.tcp != nil {
		s.tcp.wait(s.clk, until, stop)
		return
	}
	s.clk.sleepUntil(until, stop)
}

// prepare fills sendMsgs with the queries due by now, up to a batch, each
// with its own free ID, and reports how many, and whether the schedule has
// ended.
func (s *dnsSocket) prepare(now, warmup time.Duration) (k int, finished bool) {
	d := s.gen
	nq := uint64(len(d.queries))
	for k < dnsBatch {
		at, ok := s.pacer.Due(s.n)
		if !ok {
			return k, true
		}
		if at > now {
			s.waited = false // caught up
			break
		}
		if s.next-s.oldest >= dnsIDs {
			s.blocked = true // every ID is in flight
			s.waited = true
			break
		}
		use := s.next
		s.next++
		q := s.qi % nq
		s.qi++
		slot := &s.slots[use&(dnsIDs-1)]
		*slot = dnsSlot{measured: at >= warmup, query: uint32(q), intended: at}
		buf := s.sendBufs[k][:len(d.queries[q])]
		copy(buf, d.queries[q])
		buf[0], buf[1] = byte(use>>8), byte(use)
		s.sendMsgs[k] = buf
		s.batchIntent[k] = at
		s.batchUse[k] = use
		s.batchBlocked[k] = s.waited
		s.blocked = false
		k++
		s.n++
	}
	return k, false
}

// maxReadInterval bounds how long UDP answers wait in the socket buffer at
// low rates, where sends are far apart (their arrival time is stamped by
// the kernel, so this affects memory, not the measurement).
const maxReadInterval = 5 * time.Millisecond

// flushUDP sends k prepared queries with sendmmsg.
func (s *dnsSocket) flushUDP(k int, warmup, lateAfter time.Duration) {
	sentAt := s.clk.now()
	for i := 0; i < k; i++ {
		slot := &s.slots[s.batchUse[i]&(dnsIDs-1)]
		slot.sent = sentAt
		slot.busy = true
		s.stats.account(s.batchIntent[i], sentAt, warmup, lateAfter, s.batchBlocked[i])
	}
	s.live.sent.Add(uint64(k))
	msgs := s.sendMsgs[:k]
	for len(msgs) > 0 {
		n, err := s.sock.writeBatch(msgs)
		if err == nil && n > 0 {
			msgs = msgs[n:]
			continue
		}
		if err == nil {
			// The send buffer is full: give the kernel a moment. These
			// sends leave late, and are counted so.
			rawNanosleep(20 * time.Microsecond)
			continue
		}
		// The first unsent message failed (e.g. ECONNREFUSED from an
		// earlier ICMP error): it is lost; carry on with the rest.
		i := k - len(msgs)
		slot := &s.slots[s.batchUse[i]&(dnsIDs-1)]
		slot.busy = false
		if s.batchIntent[i] >= warmup {
			s.sendErrors++
		}
		msgs = msgs[1:]
	}
}

// sweep times out in-flight queries sent more than timeout before now and
// advances oldest past every slot no longer in flight. Answers that have
// arrived must be received first, or they would count as lost.
func (s *dnsSocket) sweep(now, timeout time.Duration) {
	for s.oldest != s.next {
		slot := &s.slots[s.oldest&(dnsIDs-1)]
		if slot.busy {
			if slot.sent+timeout > now {
				return
			}
			slot.busy = false
			if slot.measured {
				s.timeouts++
			}
		}
		s.oldest++
	}
}

// receiveUDP reads every answer waiting in the socket buffer, without
// blocking.
func (s *dnsSocket) receiveUDP() {
	for {
		n, err := s.sock.readBatch()
		if err != nil || n == 0 {
			// Nothing waiting, or ECONNREFUSED (the port is closed): the
			// queries will time out.
			return
		}
		fallback := s.clk.now()
		for i := 0; i < n; i++ {
			at, ok := s.sock.arrival(i, s.clk)
			if !ok {
				at = fallback
			}
			s.answer(s.sock.datagram(i), at)
		}
		if n < dnsBatch {
			return
		}
	}
}

// answer matches one datagram, arrived at now, to its query and records it.
func (s *dnsSocket) answer(b []byte, now time.Duration) {
	if len(b) < 12 || b[2]&0x80 == 0 { // too short for a header, or not a response
		s.malformed++
		return
	}
	id := uint16(b[0])<<8 | uint16(b[1])
	slot := &s.slots[id]
	if !slot.busy {
		s.stale++
		return
	}
	question := s.gen.questions[slot.query]
	if len(b) < 12+len(question) || !bytes.Equal(b[12:12+len(question)], question) {
		// An error answer without a question section (FORMERR and the
		// like) still answers this ID; anything else is a mismatch.
		if !(b[4] == 0 && b[5] == 0 && b[3]&0x0f != 0) {
			s.mismatch++
			return
		}
	}
	slot.busy = false
	rcode := b[3] & 0x0f
	good := rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError
	if !slot.measured {
		if good {
			s.live.answered.Add(1)
		}
		return
	}
	s.rcodes[rcode]++
	if b[2]&0x02 != 0 {
		s.truncated++
		return
	}
	if !good {
		return
	}
	s.answered++
	s.live.answered.Add(1)
	s.rec.Record(slot.intended, slot.sent, now)
}

// collect merges the sockets' state into the step record. It runs after
// every sender and receiver has ended.
func (d *DNS) collect(spec StepSpec, socks []*dnsSocket) StepOutcome {
	rec := NewRecorder()
	var st sendStats
	step := results.Step{
		OfferedRPS: spec.Rate, DurationS: spec.Duration.Seconds(),
		Errors: map[string]uint64{}, Codes: map[string]uint64{},
	}
	var rcodes [16]uint64
	for _, s := range socks {
		rec.Merge(s.rec)
		st.add(s.stats)
		step.Answered += s.answered
		addNonZero(step.Errors, "timeout", s.timeouts)
		addNonZero(step.Errors, "send", s.sendErrors)
		addNonZero(step.Errors, "reset", s.resets)
		addNonZero(step.Errors, "connect", s.connErrors)
		addNonZero(step.Errors, "malformed", s.malformed)
		addNonZero(step.Errors, "mismatch", s.mismatch)
		addNonZero(step.Errors, "truncated", s.truncated)
		addNonZero(step.Errors, "late_answer", s.stale)
		for i, c := range s.rcodes {
			rcodes[i] += c
		}
	}
	for i, c := range rcodes {
		name := dns.RcodeToString[i]
		if name == "" {
			name = fmt.Sprintf("RCODE%d", i)
		}
		addNonZero(step.Codes, name, c)
		if i != dns.RcodeSuccess && i != dns.RcodeNameError {
			addNonZero(step.Errors, "rcode_"+name, c)
		}
	}
	step.Sent = st.sent
	step.Lag = st.lag()
	step.AchievedRPS = float64(step.Answered) / spec.Duration.Seconds()
	step.LatencyUS = Summarize(rec.Latency)
	step.ServiceUS = Summarize(rec.Service)
	d.cfg.Limits.judge(&step)
	return StepOutcome{Step: step, Hist: rec}
}

func addNonZero(m map[string]uint64, k string, v uint64) {
	if v != 0 {
		m[k] += v
	}
}
