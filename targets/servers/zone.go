// Package servers holds the programs that run inside the guests and on the
// host as the native baseline: an authoritative DNS server on
// github.com/miekg/dns and an HTTP server on github.com/valyala/fasthttp.
// Both print one readiness line when listening and stop when their context
// ends.
package servers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// ErrZone is wrapped by every zone error.
var ErrZone = errors.New("bad zone")

// DefaultZone is the zone served when none is given: a few names with A
// records, as a small authoritative server holds.
const DefaultZone = `$ORIGIN example.com.
$TTL 3600
@     IN SOA  ns1.example.com. hostmaster.example.com. 2026112601 7200 3600 1209600 3600
@     IN NS   ns1.example.com.
@     IN A    192.0.2.1
ns1   IN A    192.0.2.2
www   IN A    192.0.2.10
www   IN AAAA 2001:db8::10
mail  IN A    192.0.2.20
@     IN MX   10 mail.example.com.
`

// Zone is an authoritative zone held in memory. It is read-only after
// ParseZone and safe for concurrent use.
type Zone struct {
	Origin string
	soa    dns.RR
	names  map[string]map[uint16][]dns.RR // lower-case owner → type → records
}

const (
	// MaxZoneBytes bounds a zone file.
	MaxZoneBytes = 64 << 20
	// MaxZoneRecords bounds the records of a zone, which are held in
	// memory: one $GENERATE line of 40 bytes makes 65,536.
	MaxZoneRecords = 1 << 20
)

// ParseZone reads a master file (RFC 1035) of at most MaxZoneBytes and
// MaxZoneRecords records. file names it in errors. origin may be empty
// when the file sets $ORIGIN or uses absolute names. $INCLUDE is refused
// (miekg/dns's default).
func ParseZone(r io.Reader, origin, file string) (*Zone, error) {
	return parseZone(r, origin, file, MaxZoneBytes, MaxZoneRecords)
}

// parseZone is ParseZone with its bounds given.
func parseZone(r io.Reader, origin, file string, maxBytes int64, maxRecords int) (*Zone, error) {
	lr := &limitedReader{r: r, left: maxBytes}
	zp := dns.NewZoneParser(lr, dns.Fqdn(origin), file)
	z := &Zone{names: map[string]map[uint16][]dns.RR{}}
	records := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if records++; records > maxRecords {
			return nil, fmt.Errorf("%w: %s: more than %d records", ErrZone, file, maxRecords)
		}
		h := rr.Header()
		if !dns.IsFqdn(h.Name) {
			// miekg/dns leaves the owner empty when a file starts with a
			// blank one and no $ORIGIN or origin was given.
			return nil, fmt.Errorf("%w: %s: %q: no owner name (give one, $ORIGIN or an origin)", ErrZone, file, rr.String())
		}
		name := strings.ToLower(h.Name)
		if h.Rrtype == dns.TypeSOA {
			if z.soa != nil {
				return nil, fmt.Errorf("%w: %s: a second SOA record at %s", ErrZone, file, h.Name)
			}
			z.soa = rr
			z.Origin = name
		}
		if z.names[name] == nil {
			z.names[name] = map[uint16][]dns.RR{}
		}
		z.names[name][h.Rrtype] = append(z.names[name][h.Rrtype], rr)
	}
	if lr.over {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrZone, file, maxBytes)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrZone, err)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("%w: %s: no SOA record; an authoritative zone needs one", ErrZone, file)
	}
	for name := range z.names {
		if !dns.IsSubDomain(z.Origin, name) {
			return nil, fmt.Errorf("%w: %s: %s is outside the zone %s", ErrZone, file, name, z.Origin)
		}
	}
	return z, nil
}

// limitedReader reads at most left bytes of r, then reports the end of
// the input and sets over if r had more.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(l.r, one[:]); n > 0 {
			l.over = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// LoadZone reads a zone file from disk; path "" gives DefaultZone.
func LoadZone(path, origin string) (*Zone, error) {
	if path == "" {
		return ParseZone(strings.NewReader(DefaultZone), "", "built-in zone")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrZone, err)
	}
	defer f.Close()
	return ParseZone(f, origin, path)
}

// answer fills m (already SetReply'd) as an authoritative server would:
// records for an owned name and type; NOERROR with no data and the SOA for
// an owned name without that type; NXDOMAIN with the SOA for a name in the
// zone that does not exist; REFUSED outside the zone.
func (z *Zone) answer(m *dns.Msg, q dns.Question) {
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(z.Origin, name) {
		m.Rcode = dns.RcodeRefused
		return
	}
	m.Authoritative = true
	types, ok := z.names[name]
	if !ok {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{z.soa}
		return
	}
	rrs := types[q.Qtype]
	if q.Qtype == dns.TypeANY {
		// A new slice: appending to the zone's own would write into it
		// from every query at once.
		rrs = nil
		for _, set := range types {
			rrs = append(rrs, set...)
		}
	}
	if len(rrs) == 0 {
		m.Ns = []dns.RR{z.soa}
		return
	}
	m.Answer = rrs
}
