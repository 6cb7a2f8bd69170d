package loadgen

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fuzzDNSSocket is one socket's answer path as TestDNSAnswerAllocFree
// drives it, over queries of several shapes; it is made once per fuzz
// worker (its ID table is large) and reused.
func fuzzDNSSocket(tb testing.TB) *dnsSocket {
	g, err := NewDNS(DNSConfig{Server: "127.0.0.1:53", Queries: []DNSQuery{
		{Name: "www.example.com.", Type: dns.TypeA},
		{Name: "example.com.", Type: dns.TypeMX},
		{Name: ".", Type: dns.TypeNS},
		{Name: "a.very.long.name.with.many.labels.in.it.example.com.", Type: dns.TypeAAAA},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return &dnsSocket{gen: g, slots: make([]dnsSlot, dnsIDs), rec: NewRecorder()}
}

// dnsOutcomes is how many answers the socket has given an outcome to: a
// measured answer matched to its query is counted by its rcode (good,
// error or truncated); the rest as malformed, mismatched or stale.
func dnsOutcomes(s *dnsSocket) uint64 {
	n := s.malformed + s.mismatch + s.stale
	for _, c := range s.rcodes {
		n += c
	}
	return n
}

// FuzzDNSAnswer gives one socket's answer path arbitrary datagrams, with
// the ID they carry in flight (or not) for one of its queries. It must not
// panic; it gives each datagram exactly one outcome (none for an
// unmeasured answer to its query); it frees the ID only for an answer to
// its query; it counts as answered only a whole answer, with a good rcode,
// not truncated, whose question is the query's; and dnsWhole never takes
// a message and the same message one byte longer or shorter both as
// whole.
func FuzzDNSAnswer(f *testing.F) {
	s := fuzzDNSSocket(f)
	f.Fuzz(func(t *testing.T, b []byte, query uint8, busy, measured bool) {
		var id uint16
		if len(b) >= 2 {
			id = uint16(b[0])<<8 | uint16(b[1])
		}
		q := uint32(query) % uint32(len(s.gen.queries))
		s.slots[id] = dnsSlot{busy: busy, measured: measured, query: q}
		before, answered, recorded := dnsOutcomes(s), s.answered, s.rec.Latency.TotalCount()
		s.answer(b, time.Millisecond)
		freed := busy && !s.slots[id].busy
		counted := dnsOutcomes(s) - before
		switch {
		case freed && !measured && counted != 0:
			t.Fatalf("an unmeasured answer counted %d outcomes", counted)
		case (!freed || measured) && counted != 1:
			t.Fatalf("%d outcomes for one datagram (freed %v, measured %v)", counted, freed, measured)
		}
		if s.answered-answered > 1 || s.rec.Latency.TotalCount()-recorded != int64(s.answered-answered) {
			t.Fatalf("answered %d more, recorded %d more", s.answered-answered, s.rec.Latency.TotalCount()-recorded)
		}
		if s.answered > answered {
			question := s.gen.questions[q]
			rcode := b[3] & 0x0f
			if !freed || !measured || !dnsWhole(b) || b[2]&0x82 != 0x80 || (rcode != dns.RcodeSuccess && rcode != dns.RcodeNameError) ||
				len(b) < 12+len(question) || string(b[12:12+len(question)]) != string(question) {
				t.Fatalf("%x answered for query %x", b, question)
			}
		}
		s.slots[id] = dnsSlot{}
		if dnsWhole(b) && (dnsWhole(append(b[:len(b):len(b)], 0)) || dnsWhole(b[:len(b)-1])) {
			t.Fatalf("%x is whole, and so is it with a byte more or less", b)
		}
	})
}

// FuzzDNSTCPFrames feeds arbitrary bytes to one DNS-over-TCP socket's
// framing, cut at arbitrary points and into reads no larger than its
// buffer's free space, as the socket delivers them. Each whole frame must
// be one answer, in order, whatever the cuts; the bytes kept between
// reads must be the frame not yet whole, shorter than a frame can be, so
// that the buffer always has room for the next read.
func FuzzDNSTCPFrames(f *testing.F) {
	s := &dnsTCP{dnsSocket: *fuzzDNSSocket(f), tcp: &tcpStream{fd: -1, rbuf: make([]byte, 2*tcpFrameMax)}}
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64) {
		// The frames, as the stream holds them; their IDs in flight.
		var frames int
		off := 0
		for len(stream)-off >= 2 {
			size := int(stream[off])<<8 | int(stream[off+1])
			if len(stream)-off-2 < size {
				break
			}
			if size >= 2 {
				s.slots[uint16(stream[off+2])<<8|uint16(stream[off+3])] = dnsSlot{busy: true, measured: true}
			}
			frames++
			off += 2 + size
		}
		t.Cleanup(func() { clear(s.slots) })
		s.tcp.rlen = 0
		before := dnsOutcomes(&s.dnsSocket)
		for _, p := range pieces(stream, seed) {
			for len(p) > 0 {
				space := len(s.tcp.rbuf) - s.tcp.rlen
				if space == 0 {
					t.Fatalf("no room to read: %d bytes kept", s.tcp.rlen)
				}
				n := copy(s.tcp.rbuf[s.tcp.rlen:], p)
				s.tcp.rlen += n
				p = p[n:]
				s.frames(time.Millisecond)
				if s.tcp.rlen >= tcpFrameMax {
					t.Fatalf("%d bytes kept after framing, a frame is at most %d", s.tcp.rlen, tcpFrameMax)
				}
			}
		}
		if got := dnsOutcomes(&s.dnsSocket) - before; got != uint64(frames) {
			t.Fatalf("%d answers from %d whole frames", got, frames)
		}
		if s.tcp.rlen != len(stream)-off || string(s.tcp.rbuf[:s.tcp.rlen]) != string(stream[off:]) {
			t.Fatalf("kept %d bytes, want the %d after the last whole frame", s.tcp.rlen, len(stream)-off)
		}
	})
}
