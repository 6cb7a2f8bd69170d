package loadgen

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The checks of what a user gives the HTTP generator that goes onto the
// wire as it is (`ukbench load http`'s --url, --method and --header, a
// header file, an experiment's workloads[].path): each must be what RFC
// 9110 lets it be, so nothing a user types can put a second header or
// request on the wire, or frame the request otherwise than the generator
// does, and nothing that cannot be sent (port 0) is accepted.

const (
	// MaxHeaderLine bounds one header ("Name: value") and the URL, in
	// bytes: what servers take by default (Apache 8190, nginx 8 KiB).
	MaxHeaderLine = 8 << 10
	// MaxHeaders bounds the headers of a request (Apache's default
	// LimitRequestFields).
	MaxHeaders = 100
)

// framingHeaders are the fields the generator writes itself or never
// sends, lower case, with why: a user's copy would frame the request
// otherwise than the generator reads its answer (Content-Length,
// Transfer-Encoding, Trailer), send a second Host, or ask the server to
// change the connection under the generator (Connection, Upgrade, TE).
var framingHeaders = map[string]string{
	"content-length":    "the generator writes it from --body",
	"transfer-encoding": "the generator sends bodies with a Content-Length",
	"host":              "the generator sends the host of --url",
	"connection":        "the generator manages connections (--new-connection sends Connection: close)",
	"upgrade":           "the generator speaks HTTP/1.1 only",
	"te":                "the generator reads no transfer coding but chunked",
	"trailer":           "the generator sends no trailers",
}

// CheckHTTPInput reports the first of url, method and headers ("Name:
// value") that is not what it may be, wrapping ErrConfig.
func CheckHTTPInput(rawURL, method string, headers []string) error {
	if err := CheckURL(rawURL); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if method != "" && !isToken(method) {
		return fmt.Errorf("%w: method %q: want a token such as GET (RFC 9110: letters, digits and !#$%%&'*+-.^_`|~; no space)", ErrConfig, method)
	}
	if len(headers) > MaxHeaders {
		return fmt.Errorf("%w: %d headers: want at most %d", ErrConfig, len(headers), MaxHeaders)
	}
	for _, h := range headers {
		if err := CheckHeader(h); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return nil
}

// CheckURL reports why raw is not an http:// or https:// URL with a host,
// a port (if given) from 1 to 65535 and a path that can be sent as it is.
func CheckURL(raw string) error {
	if len(raw) > MaxHeaderLine {
		return fmt.Errorf("url of %d bytes: want at most %d", len(raw), MaxHeaderLine)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("url %q: want http://HOST:PORT/PATH", raw)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("url %q: port %q: want 1 to 65535", raw, p)
		}
	}
	if i := strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("url %q: holds a space or a control character (write it %%-encoded)", raw)
	}
	return nil
}

// CheckRequestPath reports why path cannot be a request's origin-form
// target (/path?query): it must start with / and hold no space or control
// character.
func CheckRequestPath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%q: want an absolute path such as /", path)
	}
	if strings.IndexFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%q: holds a space or a control character (write it %%-encoded)", path)
	}
	return nil
}

// CheckHeader reports why h is not one header field "Name: value" the
// generator may send: the name a token, the value field-content (RFC 9110
// section 5.5: visible characters, spaces and tabs, no CR, LF or other
// control character), at most MaxHeaderLine bytes, and not a field that
// frames the request or the connection (framingHeaders).
func CheckHeader(h string) error {
	if len(h) > MaxHeaderLine {
		name, _, _ := strings.Cut(h[:64], ":")
		return fmt.Errorf("header %q…: %d bytes: want at most %d", name, len(h), MaxHeaderLine)
	}
	name, value, ok := strings.Cut(h, ":")
	if !ok {
		return fmt.Errorf("header %q: want \"Name: value\"", h)
	}
	if !isToken(name) {
		return fmt.Errorf("header %q: name %q: want a token (letters, digits and !#$%%&'*+-.^_`|~; no space)", h, name)
	}
	if why, ok := framingHeaders[strings.ToLower(name)]; ok {
		return fmt.Errorf("header %q: %s may not be given: %s", h, name, why)
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '\t' || c == ' ' || c >= 0x21 && c != 0x7f {
			continue
		}
		return fmt.Errorf("header %q: value holds %s (one header per --header; no CR, LF or control character)", h, byteName(c))
	}
	return nil
}

func byteName(c byte) string {
	switch c {
	case '\r':
		return "a carriage return"
	case '\n':
		return "a line feed"
	case 0:
		return "a NUL byte"
	}
	return fmt.Sprintf("the control character %#02x", c)
}

// isToken: 1*tchar (RFC 9110 section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isTokenBytes is isToken for bytes.
func isTokenBytes(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

// isTchar: letters, digits and !#$%&'*+-.^_`|~ (RFC 9110 section 5.6.2).
func isTchar(c byte) bool { return tchar[c] }

// tchar holds isTchar for every byte.
var tchar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()
