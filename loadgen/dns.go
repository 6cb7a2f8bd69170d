package loadgen

import (
	"bytes"
	"context"
	"errors"
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
	slotBusy     = 1
)

// DNSConfig configures a DNS load generator.
type DNSConfig struct {
	Server   string        // host:port of the DNS server (UDP)
	Sockets  int           // UDP sockets, each with its own sender thread and receiver; default 2
	Queries  []DNSQuery    // sent round-robin; default DefaultDNSQueries
	Timeout  time.Duration // a query unanswered this long after its send is lost; default 2 s
	Arrivals Arrivals      // default Constant
	Seed     uint64        // for Poisson arrivals
	Limits   Limits
}

// DNS is an open-loop DNS-over-UDP load generator. Each socket has a sender
// that follows its share of the schedule and a receiver that matches answers
// to in-flight queries by ID and question. The two share only a table of
// slots indexed by DNS ID whose state changes by compare-and-swap, so the hot
// path takes no lock and allocates nothing.
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
		MaxLateFrac: d.cfg.Limits.MaxLateFraction,
	}
}

// dnsSlot is the state of one DNS ID of one socket. state is
// (use number << 1) | slotBusy while a query is in flight; the use number
// makes a stale compare-and-swap fail after the ID was reused.
type dnsSlot struct {
	state    atomic.Uint64
	intended atomic.Int64 // ns on the step clock
	sent     atomic.Int64 // ns on the step clock
	query    atomic.Uint32
	measured atomic.Bool
}

// dnsSocket is one UDP socket with its sender and receiver state. Fields
// under "sender" are touched only by the sender goroutine, those under
// "receiver" only by the receiver, until both have ended.
type dnsSocket struct {
	gen   *DNS
	conn  *net.UDPConn
	mc    *mmsgConn
	slots []dnsSlot
	live  liveCounters

	// sender
	next, oldest uint64 // use numbers: next to hand out; oldest possibly in flight
	pacer        Pacer
	stats        sendStats
	timeouts     uint64 // measured queries lost to the timeout
	sendErrors   uint64
	sendMsgs     [][]byte // the batch being sent; each slices a sendBufs entry
	sendBufs     [][]byte
	batchIntent  [dnsBatch]time.Duration
	batchUse     [dnsBatch]uint64
	batchBlocked [dnsBatch]bool

	// receiver
	rec       *Recorder
	answered  uint64 // measured, good rcode
	rcodes    [16]uint64
	malformed uint64
	mismatch  uint64
	stale     uint64 // answers to queries already answered or timed out
	truncated uint64
}

func (d *DNS) newSocket() (*dnsSocket, error) {
	conn, err := net.DialUDP("udp", nil, d.addr)
	if err != nil {
		return nil, fmt.Errorf("dns socket to %v: %w", d.addr, err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	mc, err := newMmsgConn(conn, dnsBatch, dnsMaxAnswer)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &dnsSocket{gen: d, conn: conn, mc: mc, slots: make([]dnsSlot, dnsIDs), rec: NewRecorder()}
	s.sendMsgs = make([][]byte, dnsBatch)
	s.sendBufs = make([][]byte, dnsBatch)
	for i := range s.sendBufs {
		s.sendBufs[i] = make([]byte, 512)
	}
	return s, nil
}

// RunStep implements Generator.
func (d *DNS) RunStep(ctx context.Context, spec StepSpec) (StepOutcome, error) {
	if err := checkStep(spec); err != nil {
		return StepOutcome{}, err
	}
	socks := make([]*dnsSocket, d.cfg.Sockets)
	defer func() {
		for _, s := range socks {
			if s != nil {
				s.conn.Close()
			}
		}
	}()
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
		var recvDone atomic.Bool
		wg.Add(2)
		go func() { defer wg.Done(); s.receive(clk, &recvDone) }()
		go func() {
			defer wg.Done()
			s.send(clk, spec.Warmup, &stop, i)
			// The sender has drained: wake the receiver so it exits.
			recvDone.Store(true)
			_ = s.conn.SetReadDeadline(time.Unix(1, 0))
		}()
	}
	wg.Wait()
	end()
	if err := ctx.Err(); err != nil {
		return StepOutcome{}, fmt.Errorf("step at %.0f/s interrupted: %w", spec.Rate, err)
	}
	return d.collect(spec, socks), nil
}

// send runs one socket's schedule, then waits for the answers still in
// flight until they arrive or time out.
func (s *dnsSocket) send(clk clock, warmup time.Duration, stop *atomic.Bool, index int) {
	lockPacingThread()
	d := s.gen
	lateAfter := d.cfg.Limits.LateAfter
	timeout := d.cfg.Timeout
	nq := uint64(len(d.queries))
	qi := uint64(index) % nq // each socket starts at a different query
	var n uint64             // next request number in this socket's schedule
	blocked := false         // request n has already waited for a free ID
	for !stop.Load() {
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
			slot := &s.slots[use&(dnsIDs-1)]
			q := qi % nq
			qi++
			slot.query.Store(uint32(q))
			slot.intended.Store(int64(at))
			slot.measured.Store(at >= warmup)
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
			s.flush(clk, k, warmup, lateAfter)
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
		clk.sleepUntil(at, stop)
	}
	// Drain: answers may arrive until the timeout of the last send.
	deadline := clk.now() + timeout
	for s.oldest != s.next && !stop.Load() {
		now := clk.now()
		s.sweep(now, timeout)
		if now > deadline {
			break
		}
		clk.sleepUntil(now+time.Millisecond, stop)
	}
	s.sweep(1<<62, 0) // whatever is left is lost
}

// flush marks k prepared queries in flight and sends them with sendmmsg.
func (s *dnsSocket) flush(clk clock, k int, warmup, lateAfter time.Duration) {
	sentAt := clk.now()
	for i := 0; i < k; i++ {
		use := s.batchUse[i]
		slot := &s.slots[use&(dnsIDs-1)]
		slot.sent.Store(int64(sentAt))
		slot.state.Store(use<<1 | slotBusy)
		s.stats.account(s.batchIntent[i], sentAt, warmup, lateAfter, s.batchBlocked[i])
	}
	s.live.sent.Add(uint64(k))
	msgs := s.sendMsgs[:k]
	for len(msgs) > 0 {
		n, err := s.mc.writeBatch(msgs)
		if err == nil && n > 0 {
			msgs = msgs[n:]
			continue
		}
		// The first unsent message failed (e.g. ECONNREFUSED from an
		// earlier ICMP error): it is lost; carry on with the rest.
		if n < 0 {
			n = 0
		}
		msgs = msgs[n:]
		i := k - len(msgs)
		use := s.batchUse[i]
		slot := &s.slots[use&(dnsIDs-1)]
		if slot.state.CompareAndSwap(use<<1|slotBusy, use<<1) && s.batchIntent[i] >= warmup {
			s.sendErrors++
		}
		msgs = msgs[1:]
	}
}

// sweep times out in-flight queries sent more than timeout before now and
// advances oldest past every slot no longer in flight.
func (s *dnsSocket) sweep(now, timeout time.Duration) {
	for s.oldest != s.next {
		slot := &s.slots[s.oldest&(dnsIDs-1)]
		st := slot.state.Load()
		if st&slotBusy != 0 {
			if time.Duration(slot.sent.Load())+timeout > now {
				return
			}
			if slot.state.CompareAndSwap(st, st&^slotBusy) && slot.measured.Load() {
				s.timeouts++
			}
		}
		s.oldest++
	}
}

// receive reads answers in batches until done is set.
func (s *dnsSocket) receive(clk clock, done *atomic.Bool) {
	for {
		n, err := s.mc.readBatch()
		if err != nil {
			if done.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// ECONNREFUSED (the port is closed) and the like: the
			// queries will time out; keep reading.
			continue
		}
		now := clk.now()
		for i := 0; i < n; i++ {
			s.answer(s.mc.datagram(i), now)
		}
	}
}

// answer matches one datagram to its query and records it.
func (s *dnsSocket) answer(b []byte, now time.Duration) {
	if len(b) < 12 || b[2]&0x80 == 0 { // too short for a header, or not a response
		s.malformed++
		return
	}
	id := uint16(b[0])<<8 | uint16(b[1])
	slot := &s.slots[id]
	st := slot.state.Load()
	if st&slotBusy == 0 {
		s.stale++
		return
	}
	q := slot.query.Load()
	question := s.gen.questions[q]
	if len(b) < 12+len(question) || !bytes.Equal(b[12:12+len(question)], question) {
		if b[5] == 0 && b[4] == 0 && b[3]&0x0f != 0 {
			// An error answer without a question section (FORMERR and
			// the like) still answers this ID.
		} else {
			s.mismatch++
			return
		}
	}
	intended := time.Duration(slot.intended.Load())
	sent := time.Duration(slot.sent.Load())
	measured := slot.measured.Load()
	if !slot.state.CompareAndSwap(st, st&^slotBusy) {
		s.stale++ // timed out meanwhile
		return
	}
	rcode := b[3] & 0x0f
	if !measured {
		if rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError {
			s.live.answered.Add(1)
		}
		return
	}
	s.rcodes[rcode]++
	if b[2]&0x02 != 0 {
		s.truncated++
		return
	}
	if rcode != dns.RcodeSuccess && rcode != dns.RcodeNameError {
		return
	}
	s.answered++
	s.live.answered.Add(1)
	s.rec.Record(intended, sent, now)
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
