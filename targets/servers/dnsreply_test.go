package servers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDNSReplyFitsTheClient (issue 24): an answer larger than a UDP client
// takes (512 bytes, or its EDNS size) is truncated and marked so; over TCP
// it is whole; the server advertises its own UDP size.
func TestDNSReplyFitsTheClient(t *testing.T) {
	zone := DefaultZone
	for i := range 20 {
		zone += "big IN TXT \"" + strings.Repeat("x", 100) + string(rune('a'+i)) + "\"\n"
	}
	z, err := ParseZone(strings.NewReader(zone), "", "big zone")
	if err != nil {
		t.Fatal(err)
	}
	s := startTestDNS(t, DNSConfig{Zone: z, Sockets: 1})
	for _, tc := range []struct {
		net        string
		edns       uint16
		limit      int
		truncated  bool
		answersMin int
	}{
		{"udp", 0, 512, true, 1},
		{"udp", 1232, 1232, true, 1},
		{"udp", 4096, 4096, false, 20},
		{"tcp", 0, dns.MaxMsgSize, false, 20},
	} {
		m := new(dns.Msg)
		m.SetQuestion("big.example.com.", dns.TypeTXT)
		if tc.edns > 0 {
			m.SetEdns0(tc.edns, false)
		}
		c := &dns.Client{Net: tc.net, Timeout: 2 * time.Second, UDPSize: 65535}
		r, _, err := c.Exchange(m, s.Addr)
		if err != nil {
			t.Fatalf("%s, edns %d: %v", tc.net, tc.edns, err)
		}
		r.Compress = true // as it was sent
		b, _ := r.Pack()
		if r.Truncated != tc.truncated || len(b) > tc.limit || len(r.Answer) < tc.answersMin || (!tc.truncated && len(r.Answer) != 20) {
			t.Errorf("%s, edns %d: truncated %v, %d bytes, %d answers; want truncated %v, at most %d bytes",
				tc.net, tc.edns, r.Truncated, len(b), len(r.Answer), tc.truncated, tc.limit)
		}
		if opt := r.IsEdns0(); tc.edns > 0 && (opt == nil || opt.UDPSize() != ednsSize) {
			t.Errorf("%s, edns %d: reply's OPT %v, want one offering %d", tc.net, tc.edns, opt, ednsSize)
		}
	}
}

// TestParseZoneBounds (issue 24): a zone's bytes and records are bounded
// (one $GENERATE line makes 65,536 records), every record has an owner,
// the error naming the file.
func TestParseZoneBounds(t *testing.T) {
	gen := "$ORIGIN example.com.\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 3600\n$GENERATE 0-65535 h$ A 192.0.2.1\n"
	if _, err := parseZone(strings.NewReader(gen), "", "gen.zone", 1<<20, 1000); !errors.Is(err, ErrZone) || !strings.Contains(err.Error(), "gen.zone: more than 1000 records") {
		t.Errorf("records: %v", err)
	}
	if _, err := parseZone(strings.NewReader(DefaultZone), "", "big.zone", 100, 1000); !errors.Is(err, ErrZone) || !strings.Contains(err.Error(), "big.zone: larger than 100 bytes") {
		t.Errorf("bytes: %v", err)
	}
	// Found by FuzzZone: a blank first owner with origin "0" made a zone
	// whose origin was "", every name inside it.
	if _, err := ParseZone(strings.NewReader(" SOA "), "0", "blank.zone"); !errors.Is(err, ErrZone) || !strings.Contains(err.Error(), "blank.zone") {
		t.Errorf("a blank owner: %v", err)
	}
	if _, err := parseZone(strings.NewReader(DefaultZone), "", "exact.zone", int64(len(DefaultZone)), 1000); err != nil {
		t.Errorf("a zone of exactly the limit: %v", err)
	}
}

// TestDNSAnyAnswersEachRecordOnce: records of type 255 in a zone (a type
// a master file may hold, RFC 3597) are not answered twice to ANY, nor is
// the zone's own slice of them appended to (a race between queries).
func TestDNSAnyAnswersEachRecordOnce(t *testing.T) {
	z, err := ParseZone(strings.NewReader(DefaultZone+"www IN TYPE255 \\# 1 00\nwww IN TYPE255 \\# 1 01\nwww IN TYPE255 \\# 1 02\n"), "", "any.zone")
	if err != nil {
		t.Fatal(err)
	}
	own := z.names["www.example.com."][dns.TypeANY]
	req := new(dns.Msg)
	req.SetQuestion("www.example.com.", dns.TypeANY)
	w := &recorder{}
	(&dnsHandler{zone: z, faults: &faultState{}}).ServeDNS(w, req)
	if n := len(w.msgs[0].Answer); n != 5 { // A, AAAA and three of type 255
		t.Errorf("%d answers, want 5:\n%v", n, w.msgs[0])
	}
	for i, rr := range own[len(own):cap(own)] {
		if rr != nil {
			t.Errorf("the zone's slice was appended to: %v at %d", rr, len(own)+i)
		}
	}
}
