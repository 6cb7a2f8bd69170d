package loadgen

import (
	"bytes"
	"errors"
)

// Errors of the HTTP/1.1 response reader.
var (
	errHeaderTooLarge = errors.New("response header too large")
	errMalformed      = errors.New("malformed response")
	errExtraBytes     = errors.New("bytes after the response (no request was pipelined)")
)

// maxResponseHeader bounds a response's status line and headers.
const maxResponseHeader = 8 << 10

// httpResponse reads one HTTP/1.1 response incrementally from the bytes a
// connection delivers, keeping only what it must (the header; the body is
// counted, not kept). It does not allocate. Reset it before each request.
type httpResponse struct {
	hdr    [maxResponseHeader]byte
	hdrLen int
	inBody bool

	status    int
	bodyLen   int64 // body bytes seen
	contentLn int64 // -1: none given
	chunked   bool
	close     bool // Connection: close (or HTTP/1.0 without keep-alive)
	untilEOF  bool // no length: the body ends when the server closes
	noBody    bool // HEAD request, 1xx, 204, 304

	// chunked decoding
	chState  int   // chSize, chExt, chSizeLF, chData, chDataCR, chDataLF, chTrailer…
	chRemain int64 // data bytes left in the current chunk
	chSize   int64
	chLine   int // bytes in the current trailer line
	done     bool
}

const (
	chSize = iota
	chExt
	chSizeLF
	chData
	chDataCR
	chDataLF
	chTrailerStart
	chTrailerLine
	chTrailerLF
	chEndLF
)

func (r *httpResponse) reset(head bool) {
	r.hdrLen, r.inBody, r.status, r.bodyLen, r.contentLn = 0, false, 0, 0, -1
	r.chunked, r.close, r.untilEOF, r.noBody, r.done = false, false, false, head, false
	r.chState, r.chRemain, r.chSize, r.chLine = chSize, 0, 0, 0
}

// feed takes the next bytes of the connection. It reports whether the
// response is complete; bytes past its end are an error.
func (r *httpResponse) feed(p []byte) (bool, error) {
	if r.done {
		if len(p) > 0 {
			return true, errExtraBytes
		}
		return true, nil
	}
	if !r.inBody {
		// Look for the end of the header across the old and new bytes.
		from := max(0, r.hdrLen-3)
		n := min(len(p), len(r.hdr)-r.hdrLen)
		copy(r.hdr[r.hdrLen:], p[:n])
		r.hdrLen += n
		end := bytes.Index(r.hdr[from:r.hdrLen], []byte("\r\n\r\n"))
		if end < 0 {
			if r.hdrLen == len(r.hdr) {
				return false, errHeaderTooLarge
			}
			return false, nil
		}
		end += from + 4
		if err := r.parseHeader(r.hdr[:end]); err != nil {
			return false, err
		}
		r.inBody = true
		// The bytes of p past the header are body.
		consumed := n - (r.hdrLen - end)
		r.hdrLen = end
		p = p[consumed:]
		if r.noBody || (!r.chunked && !r.untilEOF && r.contentLn == 0) {
			r.done = true
			if len(p) > 0 {
				return true, errExtraBytes
			}
			return true, nil
		}
	}
	if r.chunked {
		return r.feedChunked(p)
	}
	r.bodyLen += int64(len(p))
	if r.untilEOF {
		return false, nil
	}
	if r.bodyLen >= r.contentLn {
		r.done = true
		if r.bodyLen > r.contentLn {
			return true, errExtraBytes
		}
		return true, nil
	}
	return false, nil
}

// eof tells the reader the server closed the connection; it reports
// whether that completed the response (a body that runs until close).
func (r *httpResponse) eof() bool {
	if r.inBody && r.untilEOF {
		r.done = true
	}
	return r.done
}

func (r *httpResponse) parseHeader(h []byte) error {
	line, rest, _ := bytes.Cut(h, []byte("\r\n"))
	// HTTP/1.x SP 3DIGIT SP reason
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return errMalformed
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errMalformed
		}
		r.status = r.status*10 + int(c-'0')
	}
	if line[7] == '0' {
		r.close = true // HTTP/1.0: close unless keep-alive is said
	}
	for len(rest) > 2 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			return errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseDecimal(value)
			if !ok {
				return errMalformed
			}
			r.contentLn = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			r.chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				r.close = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				r.close = false
			}
		}
	}
	if r.status < 200 || r.status == 204 || r.status == 304 {
		r.noBody = true
	}
	if !r.noBody && !r.chunked && r.contentLn < 0 {
		r.untilEOF, r.close = true, true
	}
	return nil
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// feedChunked decodes chunked transfer coding byte by byte (rare: static
// servers send a Content-Length), counting the data bytes.
func (r *httpResponse) feedChunked(p []byte) (bool, error) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch r.chState {
		case chSize:
			switch {
			case c >= '0' && c <= '9':
				r.chSize = r.chSize<<4 | int64(c-'0')
			case c >= 'a' && c <= 'f':
				r.chSize = r.chSize<<4 | int64(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r.chSize = r.chSize<<4 | int64(c-'A'+10)
			case c == ';' || c == ' ':
				r.chState = chExt
			case c == '\r':
				r.chState = chSizeLF
			default:
				return false, errMalformed
			}
			if r.chSize > 1<<40 {
				return false, errMalformed
			}
		case chExt:
			if c == '\r' {
				r.chState = chSizeLF
			}
		case chSizeLF:
			if c != '\n' {
				return false, errMalformed
			}
			if r.chSize == 0 {
				r.chState = chTrailerStart
			} else {
				r.chRemain, r.chState = r.chSize, chData
			}
			r.chSize = 0
		case chData:
			n := min(int64(len(p)-i), r.chRemain)
			r.bodyLen += n
			r.chRemain -= n
			i += int(n) - 1
			if r.chRemain == 0 {
				r.chState = chDataCR
			}
		case chDataCR:
			if c != '\r' {
				return false, errMalformed
			}
			r.chState = chDataLF
		case chDataLF:
			if c != '\n' {
				return false, errMalformed
			}
			r.chState = chSize
		case chTrailerStart: // an empty line ends the trailers
			if c == '\r' {
				r.chState = chEndLF
			} else {
				r.chState = chTrailerLine
			}
		case chTrailerLine:
			if c == '\r' {
				r.chState = chTrailerLF
			}
		case chTrailerLF:
			if c != '\n' {
				return false, errMalformed
			}
			r.chState = chTrailerStart
		case chEndLF:
			if c != '\n' {
				return false, errMalformed
			}
			r.done = true
			if i+1 < len(p) {
				return true, errExtraBytes
			}
			return true, nil
		}
	}
	return false, nil
}
