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
	Server   string        // host:port of the DNS server (UDP)
	Sockets  int           // UDP sockets, each with its own loop and OS thread; default 2
	Queries  []DNSQuery    // sent round-robin; default DefaultDNSQueries
	Timeout  time.Duration // a query unanswered this long after its send is lost; default 2 s
	Arrivals Arrivals      // default Constant
	Seed     uint64        // for Poisson arrivals
	Limits   Limits
}

// DNS is an open-loop DNS-over-UDP load generator. Each socket has one loop
// that follows its share of the schedule and matches answers to in-flight
// queries by ID and question in a table of slots indexed by DNS ID. Loops
// share nothing but progress counters, so the hot path takes no lock and
// allocates nothing.
type DNS struct {
	cfg       DNSConfig
	addr      *net.UDPAddr
	queries   [][]byte // packed, ID 0
	questions [][]byte // the question section of each packed query
}

// NewDNS validates cfg and prepares the queries.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	if cfg.Sockets == 0 {
		cfg.Sockets = 2
	}
	if cfg.Sockets < 0 || cfg.Sockets > 1024 {
		return nil, fmt.Errorf("%w: sockets %d: want 1 to 1024", ErrConfig, cfg.Sockets)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: timeout %v must be positive", ErrConfig, cfg.Timeout)
	}
	if cfg.Arrivals == "" {
		cfg.Arrivals = Constant
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
		Server: d.addr.String(), Arrivals: string(d.cfg.Arrivals), Workers: d.cfg.Sockets,
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

	next, oldest uint64 // use numbers: next to hand out; oldest possibly in flight
	stats        sendStats
	timeouts     uint64 // measured queries lost to the timeout
	sendErrors   uint64
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
	sock, err := dialUDPSocket(d.addr, dnsBatch, dnsMaxAnswer)
	if err != nil {
		return nil, fmt.Errorf("dns socket to %v: %w", d.addr, err)
	}
	s := &dnsSocket{gen: d, sock: sock, slots: make([]dnsSlot, dnsIDs), rec: NewRecorder()}
	s.sendMsgs = make([][]byte, dnsBatch)
	s.sendBufs = make([][]byte, dnsBatch)
	for i := range s.sendBufs {
		s.sendBufs[i] = make([]byte, 512)
	}
	return s, nil
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
				s.sock.close() // every loop has ended (wg.Wait below) or never started
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
		socks[i] = s
		counters[i] = &s.live
	}

	var stop atomic.Bool
	clk := newClock()
	end := watchStep(ctx, spec, clk, &stop, counters)
	var wg sync.WaitGroup
	for i, s := range socks {
		s.clk = clk
		wg.Add(1)
		go func() { defer wg.Done(); s.run(spec.Warmup, &stop, i) }()
	}
	wg.Wait()
	end()
	if err := ctx.Err(); err != nil {
		return StepOutcome{}, fmt.Errorf("step at %.0f/s interrupted: %w", spec.Rate, err)
	}
	return d.collect(spec, socks), nil
}

// run follows the socket's share of the schedule, then waits for the
// answers still in flight until they arrive or time out.
func (s *dnsSocket) run(warmup time.Duration, stop *atomic.Bool, index int) {
	lockPacingThread(s.gen.cfg.Limits.TimerSlack)
	d := s.gen
	clk := s.clk
	lateAfter := d.cfg.Limits.LateAfter
	timeout := d.cfg.Timeout
	nq := uint64(len(d.queries))
	qi := uint64(index) % nq // each socket starts at a different query
	var n uint64             // next request number in this socket's schedule
	blocked := false         // request n has already waited for a free ID
	for !stop.Load() {
		s.receive()
		now := clk.now()
		s.sweep(now, timeout)
		k := 0
		finished := false
		for k < dnsBatch {
			at, ok := s.pacer.Due(n)
			if !ok {
				finished = true
				break
			}
			if at > now {
				break
			}
			if s.next-s.oldest >= dnsIDs {
				blocked = true // every ID is in flight
				break
			}
			use := s.next
			s.next++
			q := qi % nq
			qi++
			slot := &s.slots[use&(dnsIDs-1)]
			*slot = dnsSlot{measured: at >= warmup, query: uint32(q), intended: at}
			buf := s.sendBufs[k][:len(d.queries[q])]
			copy(buf, d.queries[q])
			buf[0], buf[1] = byte(use>>8), byte(use)
			s.sendMsgs[k] = buf
			s.batchIntent[k] = at
			s.batchUse[k] = use
			s.batchBlocked[k] = blocked
			blocked = false
			k++
			n++
		}
		if k > 0 {
			s.flush(k, warmup, lateAfter)
			continue // more may have fallen due while sending
		}
		if finished {
			break
		}
		if blocked {
			// Out of IDs: wait for answers or timeouts to free one.
			clk.sleepUntil(now+100*time.Microsecond, stop)
			continue
		}
		at, _ := s.pacer.Due(n)
		clk.sleepUntil(min(at, now+maxReadInterval), stop)
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
		clk.sleepUntil(now+time.Millisecond, stop)
	}
	s.receive()
	s.sweep(1<<62, 0) // whatever is left is lost
}

// maxReadInterval bounds how long answers wait in the socket buffer at low
// rates, where sends are far apart (their arrival time is stamped by the
// kernel, so this affects memory, not the measurement).
const maxReadInterval = 5 * time.Millisecond

// flush sends k prepared queries with sendmmsg.
func (s *dnsSocket) flush(k int, warmup, lateAfter time.Duration) {
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

// receive reads every answer waiting in the socket buffer, without blocking.
func (s *dnsSocket) receive() {
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
