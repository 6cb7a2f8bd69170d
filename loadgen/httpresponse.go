package loadgen

import (
	"bytes"
	"errors"
	"fmt"
)

// Errors of the HTTP/1.1 response reader. Every one but errExtraBytes
// and errHeaderTooLarge wraps errMalformed.
var (
	errHeaderTooLarge = errors.New("response header too large")
	errMalformed      = errors.New("malformed response")
	errExtraBytes     = errors.New("bytes after the response (no request was pipelined)")

	errStatusLine = fmt.Errorf("%w: status line: want HTTP/1.x, a space, a status code of three digits from 100 to 599, then a space and a reason or nothing",
		errMalformed)
	errField = fmt.Errorf("%w: header line: want \"Name: value\" (a token, a colon, no CR, LF or NUL)", errMalformed)
	// errContentLength: a length that is not a decimal count, or two that
	// differ (RFC 9110 section 8.6).
	errContentLength = fmt.Errorf("%w: Content-Length: want one decimal byte count (repeated only on another line, with the same value)", errMalformed)
	// errTransferEncoding: an empty or unparsable coding list, chunked
	// applied twice, or any Transfer-Encoding in an HTTP/1.0 response
	// (RFC 9112 section 6.1: its framing is faulty).
	errTransferEncoding = fmt.Errorf("%w: Transfer-Encoding: want a list of codings, chunked at most once, and HTTP/1.1", errMalformed)
	// errSwitchingProtocols: a 101 response. The generator never asks for
	// an upgrade (CheckHeader refuses Upgrade), and after a 101 the
	// connection no longer speaks HTTP/1.1.
	errSwitchingProtocols = fmt.Errorf("%w: 101 Switching Protocols, though no upgrade was asked for", errMalformed)
	errTooManyInterim     = fmt.Errorf("%w: more than %d interim (1xx) responses before the final one", errMalformed, maxInterim)
	errChunk              = fmt.Errorf("%w: chunked body: want HEXSIZE[;ext] CRLF data CRLF … 0 CRLF [trailers] CRLF", errMalformed)
)

const (
	// maxResponseHeader bounds a response's status line and headers, and
	// separately its chunked trailer section.
	maxResponseHeader = 8 << 10
	// maxChunkLine bounds a chunk-size line (size and extensions).
	maxChunkLine = 4 << 10
	// maxInterim bounds the interim (1xx) responses before a final one.
	maxInterim = 16
	// maxChunkSize bounds one chunk (1 TiB): no server of a benchmark
	// sends one larger, and the sum of chunks cannot overflow.
	maxChunkSize = 1 << 40
)

// httpResponse reads one HTTP/1.1 response incrementally from the bytes a
// connection delivers, keeping only what it must (the header; the body is
// counted, not kept). It skips interim (1xx) responses and frames the body
// as RFC 9112 section 6.3 says. It does not allocate. Reset it before each
// request; it belongs to one connection.
type httpResponse struct {
	hdr    [maxResponseHeader]byte
	hdrLen int
	inBody bool
	head   bool // the request was HEAD: no response has a body

	status    int
	interim   int   // interim (1xx) responses skipped
	bodyLen   int64 // body bytes seen (chunked: data bytes)
	contentLn int64 // -1: none given
	chunked   bool
	close     bool // the connection ends with this response (Connection: close, HTTP/1.0, framing that says so)
	untilEOF  bool // no length: the body ends when the server closes
	noBody    bool // HEAD request, 204, 304

	// chunked decoding
	chState  int   // chSize, chSizeWS, chExt, chSizeLF, chData, chDataCR, chDataLF, chTrailer…
	chRemain int64 // data bytes left in the current chunk
	chSize   int64
	chDigits int // hex digits of the current size
	chLine   int // bytes of the current size line, or of the trailer section
	done     bool
}

const (
	chSize   = iota
	chSizeWS // spaces after the size: a ';' or the line's end must follow
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

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// reset readies r for the response to a new request; head says it is a
// HEAD request's.
func (r *httpResponse) reset(head bool) {
	r.hdrLen, r.inBody, r.head, r.interim, r.bodyLen, r.done = 0, false, head, 0, 0, false
	r.resetHeader()
}

// resetHeader forgets what the last header said (after an interim
// response, before the next header).
func (r *httpResponse) resetHeader() {
	r.hdrLen, r.status, r.contentLn = 0, 0, -1
	r.chunked, r.close, r.untilEOF, r.noBody = false, false, false, r.head
	r.chState, r.chRemain, r.chSize, r.chDigits, r.chLine = chSize, 0, 0, 0, 0
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
	for !r.inBody {
		if len(p) == 0 {
			return false, nil
		}
		// Look for the end of the header across the old and new bytes.
		from := max(0, r.hdrLen-3)
		n := min(len(p), len(r.hdr)-r.hdrLen)
		copy(r.hdr[r.hdrLen:], p[:n])
		r.hdrLen += n
		end := bytes.Index(r.hdr[from:r.hdrLen], crlfcrlf)
		if end < 0 {
			if r.hdrLen == len(r.hdr) {
				return false, errHeaderTooLarge
			}
			return false, nil
		}
		end += from + 4
		interim, err := r.parseHeader(r.hdr[:end])
		if err != nil {
			return false, err
		}
		// The bytes of p past the header follow it: the next header after
		// an interim response, else the body.
		p = p[n-(r.hdrLen-end):]
		if interim {
			if r.interim++; r.interim > maxInterim {
				return false, errTooManyInterim
			}
			r.resetHeader()
			continue
		}
		r.hdrLen = end
		r.inBody = true
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

// parseHeader reads a status line and header fields, h ending with the
// empty line, into r. interim reports an interim (1xx) response, whose
// final response follows.
func (r *httpResponse) parseHeader(h []byte) (interim bool, err error) {
	line, rest, _ := bytes.Cut(h, crlf)
	http10, err := r.parseStatusLine(line)
	if err != nil {
		return false, err
	}
	var connClose, keepAlive, te, teChunked, teLastChunked bool
	folding := false // the previous field may continue on an obs-fold line
	for len(rest) > 2 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, crlf)
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			// obs-fold (RFC 9112 section 5.2): the previous field's value
			// goes on. Not one that frames the message, whose value must
			// be read whole.
			if !folding || !fieldValue(l) {
				return false, errField
			}
			continue
		}
		name, value, ok := splitField(l)
		if !ok {
			return false, errField
		}
		folding = false
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if err := r.parseContentLength(value); err != nil {
				return false, err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			codings := 0
			for v := value; len(v) > 0; {
				var elem []byte
				if elem, v = nextElement(v); len(elem) == 0 {
					continue
				}
				coding, _, _ := bytes.Cut(elem, []byte(";"))
				coding = trimOWS(coding)
				if !isTokenBytes(coding) {
					return false, errTransferEncoding
				}
				codings++
				teLastChunked = bytes.EqualFold(coding, []byte("chunked"))
				if teLastChunked {
					if teChunked {
						return false, errTransferEncoding // chunked twice
					}
					teChunked = true
				}
			}
			if codings == 0 {
				return false, errTransferEncoding
			}
			te = true
		case bytes.EqualFold(name, []byte("Connection")):
			for v := value; len(v) > 0; {
				var elem []byte
				elem, v = nextElement(v)
				switch {
				case bytes.EqualFold(elem, []byte("close")):
					connClose = true
				case bytes.EqualFold(elem, []byte("keep-alive")):
					keepAlive = true
				}
			}
		default:
			folding = true
		}
	}
	if r.status < 200 {
		if r.status == 101 {
			return false, errSwitchingProtocols
		}
		return true, nil // its fields say nothing of the final response
	}
	r.close = connClose || (http10 && !keepAlive)
	if te {
		// RFC 9112 section 6.3: Transfer-Encoding overrides Content-Length;
		// a response with both may be an attempt at response splitting,
		// so the connection ends with it. chunked not last: the body runs
		// until the server closes.
		if http10 {
			return false, errTransferEncoding
		}
		if r.contentLn >= 0 {
			r.close = true
		}
		r.contentLn = -1
		r.chunked = teLastChunked
	}
	if r.status == 204 || r.status == 304 {
		r.noBody = true
	}
	if !r.noBody && !r.chunked && r.contentLn < 0 {
		r.untilEOF, r.close = true, true
	}
	return false, nil
}

// splitField splits a field line into its name, a token, and its value,
// without surrounding spaces, holding no CR, LF or NUL.
func splitField(l []byte) (name, value []byte, ok bool) {
	i := 0
	for i < len(l) && tchar[l[i]] {
		i++
	}
	if i == 0 || i == len(l) || l[i] != ':' || !fieldValue(l[i+1:]) {
		return nil, nil, false
	}
	return l[:i], trimOWS(l[i+1:]), true
}

// fieldValue reports whether v holds no CR, LF or NUL (RFC 9110 section
// 5.5: other control characters a recipient may keep).
func fieldValue(v []byte) bool {
	for _, c := range v {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// parseStatusLine reads "HTTP/1.x SP 3DIGIT SP reason" (the space after
// the code may be missing when there is no reason, as some servers send
// it) and reports whether the version is HTTP/1.0.
func (r *httpResponse) parseStatusLine(line []byte) (http10 bool, err error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') || bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 ||
		bytes.IndexByte(line, 0) >= 0 {
		return false, errStatusLine
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false, errStatusLine
		}
		r.status = r.status*10 + int(c-'0')
	}
	if r.status < 100 || r.status >= maxStatus {
		return false, errStatusLine
	}
	return line[7] == '0', nil
}

// parseContentLength reads a Content-Length value: one decimal count. A
// count differing from one seen before is an error (RFC 9110 section
// 8.6); the same one repeated is taken. A list ("5, 5"), which a recipient
// may take too, is refused, as net/http and fasthttp refuse it.
func (r *httpResponse) parseContentLength(value []byte) error {
	n, ok := parseDecimal(value)
	if !ok || (r.contentLn >= 0 && n != r.contentLn) {
		return errContentLength
	}
	r.contentLn = n
	return nil
}

// nextElement splits the first element off a comma-separated field value
// (RFC 9110 section 5.6.1), without surrounding spaces; it may be empty,
// which recipients must ignore.
func nextElement(v []byte) (elem, rest []byte) {
	elem, rest, _ = bytes.Cut(v, []byte(","))
	return trimOWS(elem), rest
}

// trimOWS removes spaces and tabs at both ends of b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
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
		case chSize, chSizeWS, chExt:
			if r.chLine++; r.chLine > maxChunkLine {
				return false, errChunk
			}
			if c == '\r' {
				if r.chDigits == 0 {
					return false, errChunk
				}
				r.chState = chSizeLF
				continue
			}
			switch r.chState {
			case chExt:
				continue // chunk extensions are ignored
			case chSizeWS:
				switch c {
				case ' ', '\t':
				case ';':
					r.chState = chExt
				default:
					return false, errChunk
				}
				continue
			}
			switch {
			case c >= '0' && c <= '9':
				r.chSize = r.chSize<<4 | int64(c-'0')
			case c >= 'a' && c <= 'f':
				r.chSize = r.chSize<<4 | int64(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r.chSize = r.chSize<<4 | int64(c-'A'+10)
			case c == ';' && r.chDigits > 0:
				r.chState = chExt
				continue
			case (c == ' ' || c == '\t') && r.chDigits > 0:
				r.chState = chSizeWS // RFC 9112 section 7.1.1: BWS before ';'
				continue
			default:
				return false, errChunk
			}
			r.chDigits++
			if r.chSize > maxChunkSize {
				return false, errChunk
			}
		case chSizeLF:
			if c != '\n' {
				return false, errChunk
			}
			if r.chSize == 0 {
				r.chState = chTrailerStart
			} else {
				r.chRemain, r.chState = r.chSize, chData
			}
			r.chSize, r.chDigits, r.chLine = 0, 0, 0
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
				return false, errChunk
			}
			r.chState = chDataLF
		case chDataLF:
			if c != '\n' {
				return false, errChunk
			}
			r.chState = chSize
		case chTrailerStart, chTrailerLine, chTrailerLF:
			// Trailer fields are ignored; an empty line ends them. chLine
			// counts the whole section.
			if r.chLine++; r.chLine > maxResponseHeader {
				return false, errHeaderTooLarge
			}
			switch {
			case r.chState == chTrailerLF:
				if c != '\n' {
					return false, errChunk
				}
				r.chState = chTrailerStart
			case c == '\r' && r.chState == chTrailerStart:
				r.chState = chEndLF
			case c == '\r':
				r.chState = chTrailerLF
			case c == '\n':
				return false, errChunk // a bare LF
			default:
				r.chState = chTrailerLine
			}
		case chEndLF:
			if c != '\n' {
				return false, errChunk
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
