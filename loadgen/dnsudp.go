package loadgen

import (
	"sync/atomic"
	"time"
)

// dnsUDP is one socket of a DNS step over UDP: a connected socket driven by
// sendmmsg and recvmmsg (udpSocket). The kernel stamps each answer's
// arrival (SO_TIMESTAMPNS), so answers need not be read the moment they
// land: receiving costs no extra wake-up, and the latency is measured at
// arrival, free of scheduling delay.
type dnsUDP struct {
	dnsSocket
	sock       *udpSocket
	sendErrors uint64 // measured queries the kernel refused to send
}

func (s *dnsUDP) run(clk clock, warmup time.Duration, stop *atomic.Bool) {
	s.loop(s, clk, warmup, stop)
}

func (s *dnsUDP) close() { s.sock.close() }

func (s *dnsUDP) addErrors(errs map[string]uint64) { addNonZero(errs, "send", s.sendErrors) }

// wait sleeps until the clock reads until or stop is set: answers wait in
// the socket buffer, stamped on arrival, for the next wake-up.
func (s *dnsUDP) wait(until time.Duration, stop *atomic.Bool) { s.clk.sleepUntil(until, stop) }

// flush sends k prepared queries with sendmmsg.
func (s *dnsUDP) flush(k int, warmup time.Duration, _ *atomic.Bool) {
	sentAt := s.clk.now()
	for i := 0; i < k; i++ {
		slot := &s.slots[s.batchUse[i]&(dnsIDs-1)]
		slot.sent = sentAt
		slot.busy = true
		s.stats.account(s.batchIntent[i], sentAt, s.batchBlocked[i])
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

// receive reads every answer waiting in the socket buffer, without
// blocking.
func (s *dnsUDP) receive() {
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
