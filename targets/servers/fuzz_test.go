package servers

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// recorder is a dns.ResponseWriter that keeps what the handler writes,
// for a client over UDP or TCP.
type recorder struct {
	udp  bool
	msgs []*dns.Msg
}

var (
	udpClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	tcpClient = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
)

func (w *recorder) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *recorder) RemoteAddr() net.Addr {
	if w.udp {
		return udpClient
	}
	return tcpClient
}
func (w *recorder) WriteMsg(m *dns.Msg) error { w.msgs = append(w.msgs, m); return nil }
func (w *recorder) Write([]byte) (int, error) { return 0, errors.New("raw write") }
func (w *recorder) Close() error              { return nil }
func (w *recorder) TsigStatus() error         { return nil }
func (w *recorder) TsigTimersOnly(bool)       {}
func (w *recorder) Hijack()                   {}

// fuzzZone is DefaultZone with an RRset too large for a UDP answer and
// one too large for any answer (3,000 AAAA records), so that truncation
// is exercised.
func fuzzZone(tb testing.TB) *Zone {
	var b strings.Builder
	b.WriteString(DefaultZone)
	for i := range 40 {
		b.WriteString("big IN TXT \"" + strings.Repeat("x", 200) + string(rune('a'+i%26)) + "\"\n")
	}
	b.WriteString("$GENERATE 1-3000 huge IN AAAA 2001:db8::$\n")
	z, err := ParseZone(strings.NewReader(b.String()), "", "fuzz zone")
	if err != nil {
		tb.Fatal(err)
	}
	return z
}

// FuzzDNSServer gives the DNS handler arbitrary query bytes as the server
// does: miekg/dns reads the header, lets through what its default accept
// function takes, unpacks it, and calls the handler. The handler must not
// panic and must write one reply that packs within what the client can
// take, answers the query's ID, opcode and question, follows RFC 6891
// (an OPT record for one; FORMERR for two; BADVERS for a version but 0),
// and holds only records of the question's name, type and class.
func FuzzDNSServer(f *testing.F) {
	h := &dnsHandler{zone: fuzzZone(f), faults: &faultState{}}
	f.Fuzz(func(t *testing.T, query []byte, udp bool) {
		if len(query) < 12 {
			return // miekg/dns drops it
		}
		dh := dns.Header{Id: binary.BigEndian.Uint16(query), Bits: binary.BigEndian.Uint16(query[2:]),
			Qdcount: binary.BigEndian.Uint16(query[4:]), Ancount: binary.BigEndian.Uint16(query[6:]),
			Nscount: binary.BigEndian.Uint16(query[8:]), Arcount: binary.BigEndian.Uint16(query[10:])}
		if dns.DefaultMsgAcceptFunc(dh) != dns.MsgAccept {
			return // miekg/dns answers or drops it itself
		}
		req := new(dns.Msg)
		if req.Unpack(query) != nil {
			return // miekg/dns answers FORMERR itself
		}
		w := &recorder{udp: udp}
		h.ServeDNS(w, req)
		if len(w.msgs) != 1 {
			t.Fatalf("%d replies", len(w.msgs))
		}
		b, err := w.msgs[0].Pack()
		if err != nil {
			t.Fatalf("the reply does not pack: %v\n%v", err, w.msgs[0])
		}
		limit := dns.MaxMsgSize
		if udp {
			limit = dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				limit = max(limit, int(opt.UDPSize()))
			}
		}
		if len(b) > limit {
			t.Fatalf("a reply of %d bytes to a client that takes %d (udp %v)", len(b), limit, udp)
		}
		var m dns.Msg
		if err := m.Unpack(b); err != nil {
			t.Fatalf("the reply does not unpack: %v", err)
		}
		if !m.Response || m.Id != req.Id || m.Opcode != req.Opcode {
			t.Fatalf("reply: response %v, id %d, opcode %d; query: id %d, opcode %d", m.Response, m.Id, m.Opcode, req.Id, req.Opcode)
		}
		opts := 0
		for _, rr := range req.Extra {
			if rr.Header().Rrtype == dns.TypeOPT {
				opts++
			}
		}
		if opt := req.IsEdns0(); opt != nil {
			// RFC 6891 sections 6.1.1 and 6.1.3: a reply to a query with
			// an OPT record has one; more than one is FORMERR; a version
			// but 0, BADVERS.
			if m.IsEdns0() == nil {
				t.Fatalf("a query with an OPT record, a reply without")
			}
			switch {
			case opts > 1 && m.Rcode != dns.RcodeFormatError:
				t.Fatalf("%d OPT records: rcode %s, want FORMERR", opts, dns.RcodeToString[m.Rcode])
			case opts == 1 && opt.Version() != 0 && m.Rcode != dns.RcodeBadVers:
				t.Fatalf("EDNS version %d: rcode %s, want BADVERS", opt.Version(), dns.RcodeToString[m.Rcode])
			}
		}
		if len(req.Question) != 1 {
			return
		}
		q := req.Question[0]
		if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY && (len(m.Answer) > 0 || m.Rcode == dns.RcodeSuccess) {
			t.Fatalf("class %d: rcode %s, %d answers; want none from a zone of class IN", q.Qclass, dns.RcodeToString[m.Rcode], len(m.Answer))
		}
		if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Name) || m.Question[0].Qtype != q.Qtype || m.Question[0].Qclass != q.Qclass {
			t.Fatalf("reply's question %v, the query's %v", m.Question, q)
		}
		for _, rr := range m.Answer {
			hd := rr.Header()
			if !strings.EqualFold(hd.Name, q.Name) || (hd.Rrtype != q.Qtype && q.Qtype != dns.TypeANY) || hd.Class != dns.ClassINET {
				t.Fatalf("answer %v to %v", rr, q)
			}
		}
		for _, rr := range m.Ns {
			if rr.Header().Rrtype != dns.TypeSOA {
				t.Fatalf("authority %v", rr)
			}
		}
	})
}

// FuzzZone parses arbitrary zone files. An error must wrap ErrZone; a zone
// accepted must have its SOA, hold no name outside it nor more than
// MaxZoneRecords records, and answer a query for each of its names and
// types with a reply that packs.
func FuzzZone(f *testing.F) {
	f.Fuzz(func(t *testing.T, text, origin string) {
		z, err := ParseZone(strings.NewReader(text), origin, "fuzz.zone")
		if err != nil {
			if !errors.Is(err, ErrZone) {
				t.Fatalf("error %v: want an ErrZone", err)
			}
			return
		}
		if z.soa == nil || !dns.IsFqdn(z.Origin) || z.Origin != strings.ToLower(z.Origin) {
			t.Fatalf("origin %q, soa %v", z.Origin, z.soa)
		}
		n := 0
		for name, types := range z.names {
			if !dns.IsSubDomain(z.Origin, name) {
				t.Fatalf("%s outside %s", name, z.Origin)
			}
			for typ, rrs := range types {
				n += len(rrs)
				if n > 64 {
					continue // answering each is enough for a few
				}
				for _, qt := range []uint16{typ, dns.TypeANY} {
					req := new(dns.Msg)
					req.SetQuestion(name, qt)
					w := &recorder{}
					(&dnsHandler{zone: z, faults: &faultState{}}).ServeDNS(w, req)
					if len(w.msgs) != 1 {
						t.Fatalf("%s %d: %d replies", name, qt, len(w.msgs))
					}
					if _, err := w.msgs[0].Pack(); err != nil {
						t.Fatalf("%s %d: the reply does not pack: %v", name, qt, err)
					}
				}
			}
		}
		if n > MaxZoneRecords {
			t.Fatalf("%d records", n)
		}
	})
}
