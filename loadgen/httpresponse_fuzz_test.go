package loadgen

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// pieces cuts data into pieces of 1 to 64 bytes chosen by seed (a
// xorshift sequence), as reads from a socket may cut it; seed 0 is one
// piece.
func pieces(data []byte, seed uint64) [][]byte {
	if seed == 0 || len(data) == 0 {
		return [][]byte{data}
	}
	var out [][]byte
	x := seed
	for len(data) > 0 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		n := min(len(data), 1+int(x%64))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// readerOutcome is what the reader made of a connection's bytes.
type readerOutcome struct {
	done                     bool
	err                      error
	status                   int
	body                     int64
	close, untilEOF, chunked bool
}

// readOne feeds the pieces of one response's bytes as the event loop does
// (stopping at the first error) and, at their end, tells the reader the
// server closed.
func readOne(head bool, ps [][]byte) readerOutcome {
	var r httpResponse
	r.reset(head)
	var o readerOutcome
	for _, p := range ps {
		if o.done, o.err = r.feed(p); o.err != nil {
			break
		}
	}
	if o.err == nil && !o.done {
		o.done = r.eof()
	}
	if r.hdrLen > len(r.hdr) || r.interim > maxInterim {
		panic("reader state out of bounds")
	}
	o.status, o.body, o.close, o.untilEOF, o.chunked = r.status, r.bodyLen, r.close, r.untilEOF, r.chunked
	return o
}

// FuzzHTTPResponse feeds the event loop's response reader arbitrary bytes
// from a server, cut at arbitrary points. It must not panic or count more
// body than it was given; its verdict must not depend on how the bytes
// were cut; what it accepts, net/http must read the same way; and a
// well-formed response built from the same input (body, status, framing)
// must read back as it was built.
func FuzzHTTPResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, head bool) {
		whole := readOne(head, [][]byte{data})
		cut := readOne(head, pieces(data, seed))
		if whole.body > int64(len(data)) || cut.body > int64(len(data)) {
			t.Fatalf("body %d and %d bytes from %d bytes", whole.body, cut.body, len(data))
		}
		if whole.done != cut.done || whole.err != cut.err {
			t.Fatalf("whole: done %v err %v; cut: done %v err %v", whole.done, whole.err, cut.done, cut.err)
		}
		if whole.err == nil && whole != cut {
			t.Fatalf("whole %+v, cut %+v", whole, cut)
		}
		if whole.done && whole.err == nil {
			if whole.status < 200 || whole.status >= maxStatus {
				t.Fatalf("final status %d", whole.status)
			}
			checkAgainstNetHTTP(t, data, head, whole)
		}
		checkLoopSequence(t, data, seed, head)
		checkRoundTrip(t, data, seed, head)
	})
}

// checkLoopSequence reads responses back to back as the event loop does:
// when one ends with a piece, the reader is reset for the next request;
// bytes after one within a piece end the connection.
func checkLoopSequence(t *testing.T, data []byte, seed uint64, head bool) {
	var r httpResponse
	r.reset(head)
	var body int64
	for _, p := range pieces(data, seed) {
		done, err := r.feed(p)
		if err != nil {
			return
		}
		if done {
			if r.status < 200 || r.status >= maxStatus || r.bodyLen < 0 {
				t.Fatalf("final status %d body %d", r.status, r.bodyLen)
			}
			if body += r.bodyLen; body > int64(len(data)) {
				t.Fatalf("%d body bytes from %d bytes", body, len(data))
			}
			if r.close {
				return
			}
			r.reset(head)
		}
	}
}

// checkAgainstNetHTTP reads data with net/http (skipping interim
// responses as its client does) and compares what it makes of a response
// the reader accepted. net/http is more lenient in places (bare LF, any
// status code); where it refuses what the reader accepted, only what it
// does not implement may be the reason: codings but chunked, and a
// Content-Length list of one repeated value (RFC 9110 section 8.6 lets a
// recipient take it), control characters in a field value (section 5.5
// lets a recipient keep them).
func checkAgainstNetHTTP(t *testing.T, data []byte, head bool, o readerOutcome) {
	method := "GET"
	if head {
		method = "HEAD"
	}
	br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
	var resp *http.Response
	var err error
	for range maxInterim + 1 {
		if resp, err = http.ReadResponse(br, &http.Request{Method: method}); err != nil || resp.StatusCode >= 200 {
			break
		}
	}
	if err != nil {
		for _, known := range []string{"unsupported transfer encoding", "too many transfer encodings", "multiple Content-Length headers"} {
			if strings.Contains(err.Error(), known) {
				return
			}
		}
		if strings.Contains(err.Error(), "malformed MIME header") && bytes.ContainsFunc(data, func(r rune) bool { return r < ' ' && r != '\t' && r != '\r' && r != '\n' || r == 0x7f }) {
			return
		}
		t.Fatalf("the reader accepted a %d response of %d body bytes; net/http: %v", o.status, o.body, err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatalf("the reader accepted a %d response of %d body bytes; net/http's body: %v", o.status, o.body, err)
	}
	if resp.StatusCode != o.status || n != o.body {
		t.Fatalf("reader: status %d, %d body bytes; net/http: %d, %d", o.status, o.body, resp.StatusCode, n)
	}
	if left, _ := br.Peek(1); len(left) > 0 && !o.untilEOF {
		t.Fatalf("reader: a whole %d response of %d body bytes; net/http left bytes after it", o.status, o.body)
	}
}

// checkRoundTrip builds a well-formed response whose body is data, whose
// status and framing the seed chooses, and checks the reader reads it
// back whole, cut as the seed says.
func checkRoundTrip(t *testing.T, data []byte, seed uint64, head bool) {
	status := 200 + int(seed%400)
	var b bytes.Buffer
	if seed&(1<<10) != 0 {
		b.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	}
	if seed&(1<<11) != 0 {
		b.WriteString("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n")
	}
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " Whatever\r\nServer: ukbench\r\nContent-Type: text/html\r\n")
	noBody := head || status == 204 || status == 304
	chunked := seed&(1<<12) != 0
	if chunked {
		b.WriteString("Transfer-Encoding: gzip, chunked\r\n\r\n")
	} else {
		b.WriteString("Content-Length: " + strconv.Itoa(len(data)) + "\r\n\r\n")
	}
	want := int64(len(data))
	if noBody {
		want = 0
	} else if chunked {
		for i, p := range pieces(data, seed>>13|1) {
			if len(p) == 0 {
				break // data is empty: no chunk but the last
			}
			b.WriteString(strconv.FormatInt(int64(len(p)), 16))
			if i%2 == 1 {
				b.WriteString(";ext=1")
			}
			b.WriteString("\r\n")
			b.Write(p)
			b.WriteString("\r\n")
		}
		b.WriteString("0\r\nX-Trailer: 1\r\n\r\n")
	} else {
		b.Write(data)
	}
	o := readOne(head, pieces(b.Bytes(), seed))
	if !o.done || o.err != nil || o.status != status || o.body != want || o.close {
		t.Fatalf("%q: done %v err %v status %d body %d close %v; want a whole %d response of %d bytes, kept alive",
			b.Bytes(), o.done, o.err, o.status, o.body, o.close, status, want)
	}
}

// TestHTTPResponseSplitIsTheSame: the pieces the fuzz target cuts cover
// the input, in order.
func TestHTTPResponseSplitIsTheSame(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 50))
	for _, seed := range []uint64{0, 1, 42, 1 << 63} {
		if got := bytes.Join(pieces(data, seed), nil); !bytes.Equal(got, data) {
			t.Errorf("seed %d: pieces join to %q", seed, got)
		}
	}
}
