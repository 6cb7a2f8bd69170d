package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/internal/regfile"
)

// ErrQueryFile is wrapped by every query-file error.
var ErrQueryFile = errors.New("bad query file")

// DNSQuery is one question to send.
type DNSQuery struct {
	Name string // fully qualified
	Type uint16
}

// DefaultDNSQueries ask for names that `ukbench serve dns` owns in its
// built-in zone.
var DefaultDNSQueries = []DNSQuery{
	{Name: "www.example.com.", Type: dns.TypeA},
	{Name: "mail.example.com.", Type: dns.TypeA},
	{Name: "ns1.example.com.", Type: dns.TypeA},
	{Name: "example.com.", Type: dns.TypeA},
}

const (
	// maxQueryLine bounds a query file's line in bytes: room for a name
	// of 255 octets, each written as \DDD, a type and spaces.
	maxQueryLine = 2 << 10
	// MaxQueryFileLines bounds a query file's lines, comments and blank
	// ones included: the queries are held in memory, packed, and sent to
	// each agent.
	MaxQueryFileLines = 1 << 20
	// maxQueryFileBytes bounds a query file on disk: MaxQueryFileLines
	// of 64 bytes on average (dnsperf's files run about 30).
	maxQueryFileBytes = MaxQueryFileLines * 64
)

// ReadDNSQueries reads a dnsperf-format query file: one "name TYPE" per line;
// blank lines and lines starting with '#' or ';' are skipped. Each query is
// packed as it is read, so a line that cannot be sent fails here, before
// any load. Errors name the file (name) and line.
func ReadDNSQueries(r io.Reader, name string) ([]DNSQuery, error) {
	var out []DNSQuery
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxQueryLine+1), maxQueryLine+1)
	line := 0
	for sc.Scan() {
		if line++; line > MaxQueryFileLines {
			return nil, fmt.Errorf("%w: %s: more than %d lines", ErrQueryFile, name, MaxQueryFileLines)
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		q, err := parseQueryLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrQueryFile, name, line, err)
		}
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: %s:%d: longer than %d bytes", ErrQueryFile, name, line+1, maxQueryLine)
		}
		return nil, fmt.Errorf("%w: %s:%d: %w", ErrQueryFile, name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no queries", ErrQueryFile, name)
	}
	return out, nil
}

// parseQueryLine reads "name TYPE" and checks that the query packs.
func parseQueryLine(text string) (DNSQuery, error) {
	fields := strings.Fields(text)
	if len(fields) != 2 {
		return DNSQuery{}, fmt.Errorf("%q: want \"name TYPE\" (e.g. \"www.example.com A\")", text)
	}
	qname := dns.Fqdn(fields[0])
	if _, ok := dns.IsDomainName(qname); !ok {
		return DNSQuery{}, fmt.Errorf("%q is not a domain name", fields[0])
	}
	qtype, ok := dns.StringToType[strings.ToUpper(fields[1])]
	if !ok {
		return DNSQuery{}, fmt.Errorf("%q is not a DNS record type", fields[1])
	}
	q := DNSQuery{Name: qname, Type: qtype}
	if _, err := packQuery(q); err != nil {
		return DNSQuery{}, fmt.Errorf("%q cannot be sent as a query: %w", fields[0], err)
	}
	return q, nil
}

// LoadDNSQueries reads a query file from disk (ReadDNSQueries): a regular
// file (not a FIFO or device) of at most 64 MiB.
func LoadDNSQueries(path string) ([]DNSQuery, error) {
	f, _, err := regfile.Open(path, maxQueryFileBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQueryFile, err)
	}
	defer f.Close()
	return ReadDNSQueries(f, path)
}

// packQuery returns the wire form of q with ID 0 (patched per send). A
// name longer than 255 octets on the wire, which miekg/dns packs but no
// server may read (RFC 1035 section 3.1), is an error.
func packQuery(q DNSQuery) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	m.RecursionDesired = false
	m.Id = 0
	b, err := m.Pack()
	if err != nil {
		return nil, err
	}
	if n := len(b) - 12 - 4; n > 255 { // the header; the question's type and class
		return nil, fmt.Errorf("the name is %d octets on the wire, more than 255", n)
	}
	return b, nil
}
