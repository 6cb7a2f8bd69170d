package loadgen

import (
	"errors"
	"strings"
	"testing"
)

// feedAll feeds a response in pieces of the given size.
func feedAll(r *httpResponse, resp string, piece int) (bool, error) {
	done := false
	var err error
	for i := 0; i < len(resp); i += piece {
		done, err = r.feed([]byte(resp[i:min(len(resp), i+piece)]))
		if err != nil {
			return done, err
		}
	}
	return done, err
}

func TestHTTPResponseReader(t *testing.T) {
	for _, tc := range []struct {
		name, resp  string
		head        bool
		status      int
		body        int64
		close, done bool
		err         error
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, 5, false, true, nil},
		{"case and spaces", "HTTP/1.1 503 Busy\r\ncontent-length:   2 \r\nCONNECTION: Close\r\n\r\nno", false, 503, 2, true, true, nil},
		{"empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, 0, false, true, nil},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA;x=y\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", false, 200, 15, false, true, nil},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 612\r\n\r\n", true, 200, 0, false, true, nil},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, 0, false, true, nil},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 200, 1, true, true, nil},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nabc", false, 200, 3, true, false, nil},
		{"incomplete", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, 200, 3, false, false, nil},
		{"extra bytes", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy", false, 200, 2, false, true, errExtraBytes},
		{"garbage", "SMTP ready\r\n\r\n", false, 0, 0, false, false, errMalformed},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n", false, 200, 0, false, false, errMalformed},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 200, 0, false, false, errMalformed},
		// Issue 24: interim responses are skipped, not taken as the final one.
		{"100 continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, 2, false, true, nil},
		{"103 early hints", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" +
			"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx", false, 404, 1, false, true, nil},
		{"interim before a HEAD answer", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 612\r\n\r\n", true, 200, 0, false, true, nil},
		{"interim's length ignored", "HTTP/1.1 102 Processing\r\nContent-Length: 9\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, 2, false, true, nil},
		{"101 switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false, 0, 0, false, false, errSwitchingProtocols},
		{"endless interims", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterim+1) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, 0, false, false, errTooManyInterim},
		// Transfer-Encoding: chunked last is chunked (RFC 9112 section 6.3).
		{"gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, 200, 3, false, true, nil},
		{"gzip then chunked on two lines", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, 200, 3, false, true, nil},
		{"chunked, gzip runs until close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, 200, 13, true, false, nil},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", false, 0, 0, false, false, errTransferEncoding},
		{"empty transfer-encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n", false, 0, 0, false, false, errTransferEncoding},
		{"transfer-encoding of commas", "HTTP/1.1 200 OK\r\nTransfer-Encoding: , ,\r\n\r\n", false, 0, 0, false, false, errTransferEncoding},
		{"transfer-encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, 0, 0, false, false, errTransferEncoding},
		{"transfer-encoding wins over length, then close", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, 200, 3, true, true, nil},
		// The status code is three digits, then a space or the end.
		{"four-digit status", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", false, 0, 0, false, false, errStatusLine},
		{"four-digit status, no reason", "HTTP/1.1 2000\r\nContent-Length: 0\r\n\r\n", false, 0, 0, false, false, errStatusLine},
		{"two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", false, 0, 0, false, false, errStatusLine},
		{"status below 100", "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n", false, 0, 0, false, false, errStatusLine},
		{"bad version", "HTTP/1.x 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, 0, false, false, errStatusLine},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, 200, 0, false, true, nil},
		// Content-Length: repeated only with the same value.
		{"same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false, 200, 2, false, true, nil},
		{"same length as a list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false, 0, 0, false, false, errContentLength},
		{"length and a comma", "HTTP/1.1 200 OK\r\nContent-Length: 0,\r\n\r\n", false, 0, 0, false, false, errContentLength},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", false, 0, 0, false, false, errContentLength},
		{"two lengths as a list", "HTTP/1.1 200 OK\r\nContent-Length: 2,3\r\n\r\nok", false, 0, 0, false, false, errContentLength},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false, 0, 0, false, false, errContentLength},
		{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false, 0, 0, false, false, errContentLength},
		// Header lines.
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", false, 0, 0, false, false, errField},
		{"bare LF in a line", "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 9\r\nContent-Length: 2\r\n\r\nok", false, 0, 0, false, false, errField},
		{"no colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", false, 0, 0, false, false, errField},
		{"obs-fold of another field", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  more\r\nContent-Length: 2\r\n\r\nok", false, 200, 2, false, true, nil},
		{"obs-fold of the length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 2\r\n\r\nok", false, 0, 0, false, false, errField},
		{"obs-fold first", "HTTP/1.1 200 OK\r\n X-A: 1\r\nContent-Length: 2\r\n\r\nok", false, 0, 0, false, false, errField},
		{"connection list with close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", false, 200, 2, true, true, nil},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", false, 200, 2, false, true, nil},
		// Chunked framing.
		{"spaces then an extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \t;x=y\r\nok\r\n0 \r\n\r\n", false, 200, 2, false, true, nil},
		{"spaces then digits", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0 00\r\n\r\n", false, 0, 0, false, false, errChunk},
		{"empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n", false, 0, 0, false, false, errChunk},
		{"extension without size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", false, 0, 0, false, false, errChunk},
		{"endless extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("x", maxChunkLine), false, 0, 0, false, false, errChunk},
		{"endless trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + strings.Repeat("X-T: 1\r\n", maxResponseHeader/8+1), false, 0, 0, false, false, errHeaderTooLarge},
		{"huge chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20000000000\r\n", false, 0, 0, false, false, errChunk},
	} {
		for _, piece := range []int{1, 7, 4096} {
			var r httpResponse
			r.reset(tc.head)
			done, err := feedAll(&r, tc.resp, piece)
			if !errors.Is(err, tc.err) || done != tc.done {
				t.Errorf("%s (pieces of %d): done %v, err %v; want %v, %v", tc.name, piece, done, err, tc.done, tc.err)
				continue
			}
			if err != nil {
				continue
			}
			if r.status != tc.status || r.bodyLen != tc.body || r.close != tc.close {
				t.Errorf("%s (pieces of %d): status %d body %d close %v; want %d %d %v", tc.name, piece, r.status, r.bodyLen, r.close, tc.status, tc.body, tc.close)
			}
		}
	}
	var r httpResponse
	r.reset(false)
	if done, _ := r.feed([]byte("HTTP/1.1 200 OK\r\n\r\nabc")); done || !r.eof() || r.bodyLen != 3 {
		t.Errorf("a body until close ends at EOF: done %v, body %d", done, r.bodyLen)
	}
	big := make([]byte, maxResponseHeader+1)
	for i := range big {
		big[i] = 'x'
	}
	r.reset(false)
	if _, err := r.feed(big); !errors.Is(err, errHeaderTooLarge) {
		t.Errorf("oversized header: %v", err)
	}
}

func TestHTTPResponseReaderAllocs(t *testing.T) {
	for _, resp := range [][]byte{
		[]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello"),
		[]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: keep-alive, close\r\nX-A: 1\r\n 2\r\n\r\nhello"),
		[]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
	} {
		var r httpResponse
		if n := testing.AllocsPerRun(100, func() {
			r.reset(false)
			if done, err := r.feed(resp); !done || err != nil {
				t.Fatalf("%q: done %v, err %v", resp, done, err)
			}
		}); n != 0 {
			t.Errorf("%q: %v allocations per response", resp, n)
		}
	}
}
