package loadgen

import (
	"errors"
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
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello")
	var r httpResponse
	if n := testing.AllocsPerRun(100, func() { r.reset(false); r.feed(resp) }); n != 0 {
		t.Errorf("%v allocations per response", n)
	}
}
