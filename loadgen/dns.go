package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"net"

	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/results"
)

const (
	dnsIDs       = 1 << 16 // DNS IDs, hence in-flight queries, per socket
	dnsBatch     = 64      // messages per sendmmsg/recvmmsg
	dnsMaxAnswer = 4096
	dnsMaxQuery  = 512 // a packed query; a question's name packs to at most 255 bytes
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
	// Share places the sockets among the lanes of a step several
	// generators make together (agents); zero: this generator alone.
	Share LaneShare
}

// DNS is an open-loop DNS load generator, over UDP (dnsudp.go) or TCP
// (dnstcp.go). Each socket is a lane (step.go), as each thread is an HTTP
// lane: one loop on its own locked OS thread that follows its share of the
// schedule and matches answers to in-flight queries by ID and question in a
// table of slots indexed by DNS ID. Loops share nothing but progress
// counters, so the hot path takes no lock and allocates nothing.
type DNS struct {
	cfg       DNSConfig
	addr      *net.UDPAddr
	queries   [][]byte // packed, ID 0
	questions [][]byte // the question section of each packed query

	tcpSendBuffer int // SO_SNDBUF of TCP connections when > 0; set by tests
	// freezeEvery and freezeFor, when set (by tests only), freeze each
	// socket's sending thread for freezeFor every freezeEvery of the step
	// clock: a generator that stalls itself, the known truth of the
	// latency-resolution verdict.
	freezeEvery, freezeFor time.Duration
}

// NewDNS validates cfg and prepares the queries.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	var err error
	if cfg.Sockets, err = countOrDefault("sockets", cfg.Sockets, DefaultDNSSockets, MaxDNSSockets); err != nil {
		return nil, err
	}
	if cfg.Timeout, err = timeoutOrDefault(cfg.Timeout); err != nil {
		return nil, err
	}
	if err := cfg.Share.check(cfg.Sockets); err != nil {
		return nil, err
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
		if err == nil && len(b) > dnsMaxQuery {
			err = fmt.Errorf("packs to %d bytes, more than %d", len(b), dnsMaxQuery)
		}
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
	info := results.LoadInfo{
		Server: d.addr.String(), Transport: d.cfg.Transport, Arrivals: string(d.cfg.Arrivals), Workers: d.cfg.Sockets,
		Threads: d.cfg.Sockets, TimeoutMS: float64(d.cfg.Timeout) / 1e6,
	}
	d.cfg.Limits.describe(&info)
	return info
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

// dnsSocket is what one socket's loop owns whatever the transport: its
// share of the schedule, the table of in-flight queries indexed by DNS ID,
// the batch being sent, and the counts. One goroutine (on its own OS
// thread) runs the loop: it sends what the schedule makes due, and on the
// same wake-ups takes every answer that has arrived. The transport, UDP
// (dnsUDP, dnsudp.go) or TCP (dnsTCP, dnstcp.go), embeds it and sends the
// batches, receives the answers and waits. No state is shared with another
// goroutine but the live counters.
type dnsSocket struct {
	gen   *DNS
	slots []dnsSlot
	live  liveCounters
	clk   clock
	pacer Pacer

	n       uint64        // the next request number in this socket's schedule
	cutoff  time.Duration // no send leaves after it (schedule end + SendGrace)
	qi      uint64        // the next query (modulo the list); sockets start apart
	blocked bool          // request n has already waited for a free ID
	waited  bool          // a query waited for a free ID (or, over TCP, for the server to read) and the schedule has not caught up since

	next, oldest uint64 // use numbers: next to hand out; oldest possibly in flight
	stats        sendStats
	timeouts     uint64   // measured queries lost to the timeout
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
	// truncRcodes counts the truncated answers by rcode: their outcome is
	// "truncated", so their rcode is a code, not a second error.
	truncRcodes [16]uint64
}

// dnsTransport is how one socket's queries travel: datagrams (dnsUDP) or
// pipelined frames on a TCP connection (dnsTCP).
type dnsTransport interface {
	// receive takes every answer waiting, without blocking.
	receive()
	// flush sends the k queries prepare put in the batch.
	flush(k int, warmup time.Duration, stop *atomic.Bool)
	// wait blocks until the clock reads until or stop is set, or sooner.
	wait(until time.Duration, stop *atomic.Bool)
}

// dnsLane is one socket of a step over its transport.
type dnsLane interface {
	lane
	socket() *dnsSocket
	// addErrors adds the errors only this transport counts.
	addErrors(errs map[string]uint64)
}

// openSocket opens socket i of a step's sockets over the configured
// transport.
func (d *DNS) openSocket(i int, spec StepSpec) (dnsLane, error) {
	var l dnsLane
	var s *dnsSocket
	var err error
	if d.cfg.Transport == TransportTCP {
		t := &dnsTCP{}
		s, l = &t.dnsSocket, t
		t.tcp, err = newTCPStream(d.addr) // it connects at the first send
		if t.tcp != nil {
			t.tcp.sndbuf = d.tcpSendBuffer
		}
	} else {
		u := &dnsUDP{}
		s, l = &u.dnsSocket, u
		u.sock, err = dialUDPSocket(d.addr, dnsBatch, dnsMaxAnswer)
	}
	if err != nil {
		return nil, fmt.Errorf("dns %s socket to %v: %w", d.cfg.Transport, d.addr, err)
	}
	s.gen, s.slots, s.rec = d, make([]dnsSlot, dnsIDs), NewRecorder()
	s.stats.begin(s.rec, spec.Warmup, spec.Warmup+spec.Duration, d.cfg.Limits.LateAfter)
	s.pacer = d.cfg.Share.pacer(d.cfg.Arrivals, spec.Rate, spec.Warmup+spec.Duration, i, d.cfg.Sockets, d.cfg.Seed)
	s.cutoff = spec.Warmup + spec.Duration + SendGrace
	s.qi = uint64(i) % uint64(len(d.queries)) // each socket starts at a different query
	s.sendMsgs = make([][]byte, dnsBatch)
	s.sendBufs = make([][]byte, dnsBatch)
	for i := range s.sendBufs {
		s.sendBufs[i] = make([]byte, dnsMaxQuery)
	}
	return l, nil
}

func (s *dnsSocket) socket() *dnsSocket        { return s }
func (s *dnsSocket) counters() []*liveCounters { return []*liveCounters{&s.live} }

// RunStep implements Generator. It raises GOMAXPROCS for the step (see
// raiseProcs); steps must not run concurrently.
func (d *DNS) RunStep(ctx context.Context, spec StepSpec) (StepOutcome, error) {
	open := func(i int) (dnsLane, error) { return d.openSocket(i, spec) }
	return runStep(ctx, spec, d.cfg.Sockets, d.cfg.Sockets+1, open, d.collect)
}

// maxReadInterval bounds how long UDP answers wait in the socket buffer at
// low rates, where sends are far apart (their arrival time is stamped by
// the kernel, so this affects memory, not the measurement).
const maxReadInterval = 5 * time.Millisecond

// loop follows the socket's share of the schedule over t, then waits for
// the answers still in flight until they arrive or time out.
func (s *dnsSocket) loop(t dnsTransport, clk clock, warmup time.Duration, stop *atomic.Bool) {
	lockPacingThread(s.gen.cfg.Limits.TimerSlack)
	s.clk = clk
	timeout := s.gen.cfg.Timeout
	nextFreeze := s.gen.freezeEvery
	for !stop.Load() {
		if nextFreeze > 0 { // tests only
			if now := clk.now(); now >= nextFreeze {
				clk.sleepUntil(now+s.gen.freezeFor, stop)
				nextFreeze += s.gen.freezeEvery
			}
		}
		t.receive()
		now := clk.now()
		s.sweep(now, timeout)
		if now >= s.cutoff {
			// The step's time is up whatever was due: what never left
			// is counted, and the step is invalid (judge).
			s.stats.neverSent += neverSent(s.pacer, s.n, warmup)
			break
		}
		k, finished := s.prepare(now, warmup)
		if k > 0 {
			t.flush(k, warmup, stop)
			continue // more may have fallen due while sending
		}
		if finished {
			break
		}
		if s.blocked {
			// Out of IDs: wait for answers or timeouts to free one.
			t.wait(now+100*time.Microsecond, stop)
			continue
		}
		// Until the next query is due, or answers have waited long enough.
		due, _ := s.pacer.Pace(now, s.n)
		t.wait(now+min(due, maxReadInterval), stop)
	}
	// Drain: answers may arrive until the timeout of the last send.
	deadline := clk.now() + timeout
	for s.oldest != s.next && !stop.Load() {
		t.receive()
		now := clk.now()
		s.sweep(now, timeout)
		if now > deadline {
			break
		}
		t.wait(now+time.Millisecond, stop)
	}
	t.receive()
	s.sweep(1<<62, 0) // whatever is left is lost
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
	rcode := b[3] & 0x0f
	good := rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError
	question := s.gen.questions[slot.query]
	if len(b) < 12+len(question) || !bytes.Equal(b[12:12+len(question)], question) {
		// An error answer without a question section (FORMERR and the
		// like) still answers this ID; anything else, a good rcode
		// without the question included, is a mismatch.
		if good || b[4] != 0 || b[5] != 0 {
			s.mismatch++
			return
		}
	}
	slot.busy = false
	if !dnsWhole(b) {
		// This query's answer, cut short or with bytes past its records:
		// its outcome is malformed, whatever its rcode says.
		if slot.measured {
			s.malformed++
		}
		return
	}
	if !slot.measured {
		if good {
			s.live.answered.Add(1)
		}
		return
	}
	s.rcodes[rcode]++
	if b[2]&0x02 != 0 {
		s.truncated++
		s.truncRcodes[rcode]++
		return
	}
	if !good {
		return
	}
	s.answered++
	s.live.answered.Add(1)
	s.rec.Record(slot.intended, slot.sent, now)
}

// dnsWhole reports whether b parses whole as a DNS message: a header,
// then as many questions and resource records as its counts say, each
// within b, and nothing after them (RFC 1035 4.1). It follows no
// compression pointer (a pointer must only land inside b) and allocates
// nothing.
func dnsWhole(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	count := func(i int) int { return int(b[i])<<8 | int(b[i+1]) }
	off := 12
	for i := count(4); i > 0; i-- {
		if off = skipDNSName(b, off); off < 0 || off+4 > len(b) {
			return false
		}
		off += 4 // type, class
	}
	for i := count(6) + count(8) + count(10); i > 0; i-- {
		if off = skipDNSName(b, off); off < 0 || off+10 > len(b) {
			return false
		}
		off += 10 + count(off+8) // type, class, TTL, RDLENGTH; RDATA
		if off > len(b) {
			return false
		}
	}
	return off == len(b)
}

// skipDNSName returns the offset just past the domain name at off in b,
// or -1 when it does not end within b or is not a valid name.
func skipDNSName(b []byte, off int) int {
	for labels := 0; off < len(b) && labels < 128; labels++ {
		c := b[off]
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				return off + 1
			}
			off += 1 + int(c)
		case 0xc0:
			if off+2 > len(b) || (int(c&0x3f)<<8|int(b[off+1])) >= len(b) {
				return -1
			}
			return off + 2
		default:
			return -1 // extended label types (RFC 6891 obsoletes them)
		}
	}
	return -1
}

// collect merges the sockets' state into the step record. It runs after
// every socket's loop has ended.
func (d *DNS) collect(spec StepSpec, socks []dnsLane) StepOutcome {
	t := newStepTotal(spec)
	errs := t.step.Errors
	var rcodes, truncRcodes [16]uint64
	for _, l := range socks {
		s := l.socket()
		t.add(s.rec, s.stats, s.answered)
		addNonZero(errs, "timeout", s.timeouts)
		l.addErrors(errs)
		addNonZero(errs, "malformed", s.malformed)
		addNonZero(errs, "mismatch", s.mismatch)
		addNonZero(errs, "truncated", s.truncated)
		addNonZero(errs, "late_answer", s.stale)
		for i, c := range s.rcodes {
			rcodes[i] += c
			truncRcodes[i] += s.truncRcodes[i]
		}
	}
	for i, c := range rcodes {
		name := dns.RcodeToString[i]
		if name == "" {
			name = fmt.Sprintf("RCODE%d", i)
		}
		addNonZero(t.step.Codes, name, c)
		if i != dns.RcodeSuccess && i != dns.RcodeNameError {
			addNonZero(errs, "rcode_"+name, c-truncRcodes[i])
		}
	}
	return t.outcome(spec, d.cfg.Limits)
}
