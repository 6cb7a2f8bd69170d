package loadgen

import (
	"errors"
	"strings"
	"testing"
)

// TestReadDNSQueriesPacksAtParseTime (issue 24): a line that passes the
// name check but cannot be packed fails when the file is read, naming
// file:line, not when the generator starts after a target has booted;
// lines and their number are bounded.
func TestReadDNSQueriesPacksAtParseTime(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unpackable name", "www.example.com A\n\\ A\n", "q.txt:2: \"\\\\\" cannot be sent as a query"},
		{"long line", "www.example.com A\n" + strings.Repeat("a", maxQueryLine+1) + " A\n", "q.txt:2: longer than"},
		{"too many lines", strings.Repeat("#\n", MaxQueryFileLines) + "www.example.com A\n", "more than 1048576 lines"},
		{"name of 256 octets", strings.Repeat("a", 62) + strings.Repeat("."+strings.Repeat("a", 63), 3) + " A\n", "octets on the wire, more than 255"},
		{"bad type", "\n\nwww.example.com BOGUS\n", "q.txt:3: \"BOGUS\" is not a DNS record type"},
	} {
		_, err := ReadDNSQueries(strings.NewReader(tc.file), "q.txt")
		if !errors.Is(err, ErrQueryFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an ErrQueryFile containing %q", tc.name, err, tc.want)
		}
	}
	qs, err := ReadDNSQueries(strings.NewReader("# x\r\nwww.example.com a\r\n"+strings.Repeat("a", 63)+".example.com AAAA\n"), "q.txt")
	if err != nil || len(qs) != 2 {
		t.Errorf("good file: %v, %v", qs, err)
	}
}

// TestReadHTTPHeaders (issue 24): a header file's lines are checked as
// --header is, the error naming file:line and the header; line length and
// count are bounded.
func TestReadHTTPHeaders(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"content-length", "Accept: */*\nContent-Length: 5\n", "h.txt:2: header \"Content-Length: 5\": Content-Length may not be given"},
		{"second host", "# vhost\nHost: other.example\n", "h.txt:2: header \"Host: other.example\""},
		{"connection upgrade", "Connection: keep-alive, Upgrade\n", "h.txt:1: header \"Connection: keep-alive, Upgrade\""},
		{"bare CR", "X-A: 1\rX-B: 2\n", "h.txt:1: header \"X-A: 1\\rX-B: 2\": value holds a carriage return"},
		{"long line", "X-A: " + strings.Repeat("x", MaxHeaderLine) + "\n", "h.txt:1: longer than"},
		{"too many", strings.Repeat("X-A: 1\n", MaxHeaders+1), "h.txt:101: more than 100 headers"},
		{"too many lines", strings.Repeat("\n", maxHeaderFileLines+1), "more than 4096 lines"},
	} {
		_, err := ReadHTTPHeaders(strings.NewReader(tc.file), "h.txt")
		if !errors.Is(err, ErrHeaderFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an ErrHeaderFile containing %q", tc.name, err, tc.want)
		}
	}
	hs, err := ReadHTTPHeaders(strings.NewReader("# c\r\n\r\nAccept: */*\r\nX-Tab: a\tb\n"), "h.txt")
	if err != nil || len(hs) != 2 || hs[0] != "Accept: */*" {
		t.Errorf("good file: %q, %v", hs, err)
	}
}

// TestHTTPUserAgentReplacesTheGenerators: a User-Agent given replaces
// "ukbench" on the event loop's wire, as fasthttp's Set does on the pool;
// a header given twice is sent twice on both; a value loses its spaces
// and tabs at either end, nothing else (RFC 9110 section 5.5).
func TestHTTPUserAgentReplacesTheGenerators(t *testing.T) {
	g, err := NewHTTP(HTTPConfig{URL: "http://127.0.0.1:8080/", Headers: []string{"user-agent: wrk", "Accept: a", "Accept: b", "X-Nbsp: \ta\u00a0 "}})
	if err != nil {
		t.Fatal(err)
	}
	req := string(g.rawRequest)
	if strings.Contains(req, "ukbench") || strings.Count(req, "user-agent: wrk\r\n") != 1 || strings.Count(req, "Accept: ") != 2 ||
		!strings.Contains(req, "X-Nbsp: a\u00a0\r\n") {
		t.Errorf("request %q: want the user's User-Agent alone, both Accept headers, X-Nbsp's value a and a no-break space", req)
	}
	w := g.newWorker()
	defer w.release()
	if ua := string(w.req.Header.UserAgent()); ua != "wrk" {
		t.Errorf("pool's User-Agent %q, want wrk", ua)
	}
	var n int
	w.req.Header.VisitAll(func(k, _ []byte) {
		if string(k) == "Accept" {
			n++
		}
	})
	if n != 2 {
		t.Errorf("pool's request has %d Accept headers, want 2", n)
	}
}
