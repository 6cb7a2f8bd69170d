package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/miekg/dns"
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

// ReadDNSQueries reads a dnsperf-format query file: one "name TYPE" per line;
// blank lines and lines starting with '#' or ';' are skipped. Errors name the
// file (name) and line.
func ReadDNSQueries(r io.Reader, name string) ([]DNSQuery, error) {
	var out []DNSQuery
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%w: %s:%d: %q: want \"name TYPE\" (e.g. \"www.example.com A\")", ErrQueryFile, name, line, text)
		}
		qname := dns.Fqdn(fields[0])
		if _, ok := dns.IsDomainName(qname); !ok {
			return nil, fmt.Errorf("%w: %s:%d: %q is not a domain name", ErrQueryFile, name, line, fields[0])
		}
		qtype, ok := dns.StringToType[strings.ToUpper(fields[1])]
		if !ok {
			return nil, fmt.Errorf("%w: %s:%d: %q is not a DNS record type", ErrQueryFile, name, line, fields[1])
		}
		out = append(out, DNSQuery{Name: qname, Type: qtype})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %v", ErrQueryFile, name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no queries", ErrQueryFile, name)
	}
	return out, nil
}

// LoadDNSQueries reads a query file from disk.
func LoadDNSQueries(path string) ([]DNSQuery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQueryFile, err)
	}
	defer f.Close()
	return ReadDNSQueries(f, path)
}

// packQuery returns the wire form of q with ID 0 (patched per send).
func packQuery(q DNSQuery) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	m.RecursionDesired = false
	m.Id = 0
	return m.Pack()
}
