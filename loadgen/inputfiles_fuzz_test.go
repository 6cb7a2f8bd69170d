package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzDNSQueryFile reads arbitrary bytes as a query file. An error must
// wrap ErrQueryFile and name the file; every query accepted must pack
// into a datagram the generator can send, unpack to itself, and be
// accepted by NewDNS (so that nothing the file holds fails only once a
// target has booted).
func FuzzDNSQueryFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, data string) {
		qs, err := ReadDNSQueries(strings.NewReader(data), "fuzz.queries")
		if err != nil {
			if !errors.Is(err, ErrQueryFile) || !strings.Contains(err.Error(), "fuzz.queries") {
				t.Fatalf("error %v: want an ErrQueryFile naming the file", err)
			}
			return
		}
		if len(qs) > strings.Count(data, "\n")+1 {
			t.Fatalf("%d queries from %d lines", len(qs), strings.Count(data, "\n")+1)
		}
		for _, q := range qs {
			b, err := packQuery(q)
			if err != nil || len(b) > dnsMaxQuery {
				t.Fatalf("query %q %d: packs to %d bytes, %v", q.Name, q.Type, len(b), err)
			}
			var m dns.Msg
			if err := m.Unpack(b); err != nil || len(m.Question) != 1 || m.Question[0].Qtype != q.Type {
				t.Fatalf("query %q %d: unpacks to %v, %v", q.Name, q.Type, m.Question, err)
			}
			if again, err := m.Pack(); err != nil || !bytes.Equal(again, b) {
				t.Fatalf("query %q %d: packs to %x, then %x (%v)", q.Name, q.Type, b, again, err)
			}
		}
		if _, err := NewDNS(DNSConfig{Server: "127.0.0.1:53", Queries: qs}); err != nil {
			t.Fatalf("the file was accepted, NewDNS refuses it: %v", err)
		}
	})
}

// FuzzHeaderFile reads arbitrary bytes as a header file. An error must
// wrap ErrHeaderFile and name the file; the headers accepted must make,
// with the generator's own, one request that net/http reads whole, with no
// body, the generator's Host, and each header as it was given.
func FuzzHeaderFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, data string) {
		hs, err := ReadHTTPHeaders(strings.NewReader(data), "fuzz.headers")
		if err != nil {
			if !errors.Is(err, ErrHeaderFile) || !strings.Contains(err.Error(), "fuzz.headers") {
				t.Fatalf("error %v: want an ErrHeaderFile naming the file", err)
			}
			return
		}
		if len(hs) > MaxHeaders {
			t.Fatalf("%d headers", len(hs))
		}
		g, err := NewHTTP(HTTPConfig{URL: "http://127.0.0.1:8080/x", Headers: hs})
		if err != nil {
			t.Fatalf("the file was accepted, NewHTTP refuses it: %v", err)
		}
		br := bufio.NewReader(strings.NewReader(string(g.rawRequest)))
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("%q: net/http: %v", g.rawRequest, err)
		}
		if n, _ := io.Copy(io.Discard, req.Body); n != 0 || req.ContentLength > 0 || len(req.TransferEncoding) > 0 || br.Buffered() > 0 {
			t.Fatalf("%q: a body of %d bytes (length %d, codings %v), %d bytes after it", g.rawRequest, n, req.ContentLength, req.TransferEncoding, br.Buffered())
		}
		if req.Host != "127.0.0.1:8080" || req.Close {
			t.Fatalf("%q: host %q, close %v", g.rawRequest, req.Host, req.Close)
		}
		for _, h := range hs {
			name, value, _ := strings.Cut(h, ":")
			found := false
			for _, v := range req.Header.Values(name) {
				found = found || v == strings.Trim(value, " \t")
			}
			if !found {
				t.Fatalf("%q: header %q reads as %q", g.rawRequest, h, req.Header.Values(name))
			}
		}
	})
}
