package loadgen

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukbench/ukbench/results"
)

// serveRawHTTP answers every request head on every connection with resp
// as it is, and counts the connections it accepts.
func serveRawHTTP(resp string, accepts *atomic.Int64) func(net.Listener) {
	return func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				have := 0
				for {
					n, err := c.Read(buf[have:])
					if err != nil {
						return
					}
					have += n
					for {
						i := indexCRLFCRLF(buf[:have])
						if i < 0 {
							break
						}
						if _, err := c.Write([]byte(resp)); err != nil {
							return
						}
						have = copy(buf, buf[i+4:have])
					}
				}
			}()
		}
	}
}

// TestHTTPHostileResponsesOnBothPaths (issue 24): interim responses are
// skipped, a 101 is malformed, chunked is chunked when it is the last
// coding, a status of four digits and two different lengths are
// malformed, and Transfer-Encoding wins over Content-Length, the
// connection closed after it. Where fasthttp (the pool) is stricter than
// RFC 9112 requires, the outcome says so per path.
func TestHTTPHostileResponsesOnBothPaths(t *testing.T) {
	const answered, malformed = "answered", "malformed"
	for _, tc := range []struct {
		name, resp string
		loop, pool string
		closes     bool // the loop opens a connection per request
	}{
		{"100 continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", answered, answered, false},
		{"103 early hints", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", answered, answered, false},
		{"101 switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", malformed, malformed, true},
		// fasthttp refuses any coding but chunked alone.
		{"gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", answered, malformed, false},
		{"four-digit status", "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", malformed, malformed, true},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", malformed, malformed, true},
		{"transfer-encoding and length", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", answered, answered, true},
	} {
		var accepts atomic.Int64
		httpBoth(t, serveRawHTTP(tc.resp, &accepts), HTTPConfig{Connections: 2, Timeout: 300 * time.Millisecond},
			StepSpec{Rate: 100, Duration: 200 * time.Millisecond}, func(t *testing.T, path string, s results.Step) {
				want := tc.loop
				if path == "pool" {
					want = tc.pool
				}
				ok := s.Sent == 20 && outcomes(s) == s.Sent
				if want == answered {
					ok = ok && s.Answered == s.Sent
				} else {
					ok = ok && s.Answered == 0 && s.Errors["malformed"] == s.Sent
				}
				if !ok {
					t.Errorf("%s, %s: sent %d answered %d errors %v codes %v; want 20 sent, each %s", path, tc.name, s.Sent, s.Answered, s.Errors, s.Codes, want)
				}
				if n := accepts.Swap(0); path == "loop" && tc.closes && n < int64(s.Sent) {
					t.Errorf("loop, %s: %d connections for %d requests; want one each (the connection closed after each response)", tc.name, n, s.Sent)
				}
			})
	}
}
