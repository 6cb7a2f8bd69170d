package loadgen

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckHTTPInput(t *testing.T) {
	const url = "http://127.0.0.1:8080/"
	for _, tc := range []struct {
		url, method string
		headers     []string
		want        string // "" = accepted
	}{
		{url, "GET", []string{"Accept: */*", "X-Empty:", "X-Tab: a\tb", "X-Utf8: caf\xc3\xa9"}, ""},
		{"http://example.com/a?b=c", "", nil, ""},
		{"https://[::1]/", "PROPFIND", nil, ""},
		{url, "GET", []string{"X-A: 1\r\nX-Injected: 2"}, "carriage return"},
		{url, "GET", []string{"X-A: 1\nX-Injected: 2"}, "line feed"},
		{url, "GET", []string{"X-A: 1\x00"}, "NUL"},
		{url, "GET", []string{"X-A: \x7f"}, "control character"},
		{url, "GET", []string{"X A: 1"}, "want a token"},
		{url, "GET", []string{"X-A : 1"}, "want a token"},
		{url, "GET", []string{": 1"}, "want a token"},
		{url, "GET", []string{"NoColon"}, `want "Name: value"`},
		{url, "GE T", nil, "method"},
		{url, "GET\r\n", nil, "method"},
		{url, "GET/", nil, "method"},
		{"http://127.0.0.1:0/", "GET", nil, "want 1 to 65535"},
		{"http://127.0.0.1:99999/", "GET", nil, "want 1 to 65535"},
		{"http://127.0.0.1:/", "GET", nil, "want 1 to 65535"},
		{"ftp://example/", "GET", nil, "want http://"},
		{"http:///x", "GET", nil, "want http://"},
		{"http://127.0.0.1/a b", "GET", nil, "space or a control"},
		// Issue 24: fields that frame the request or the connection.
		{url, "GET", []string{"Content-Length: 5"}, "Content-Length may not be given"},
		{url, "GET", []string{"transfer-encoding: chunked"}, "transfer-encoding may not be given"},
		{url, "GET", []string{"Host: other.example"}, "Host may not be given"},
		{url, "GET", []string{"Connection: Upgrade"}, "Connection may not be given"},
		{url, "GET", []string{"Upgrade: websocket"}, "Upgrade may not be given"},
		{url, "GET", []string{"TE: trailers"}, "TE may not be given"},
		{url, "GET", []string{"Trailer: X-Sum"}, "Trailer may not be given"},
		{url, "GET", []string{"X-Long: " + strings.Repeat("x", MaxHeaderLine)}, "bytes: want at most"},
		{url, "GET", make([]string, MaxHeaders+1), "headers: want at most"},
		{"http://127.0.0.1/" + strings.Repeat("x", MaxHeaderLine), "GET", nil, "bytes: want at most"},
		{url, "GET", []string{"User-Agent: wrk", "Accept: a", "Accept: b", "Expect: 100-continue", "X-Long: " + strings.Repeat("x", MaxHeaderLine-8)}, ""},
	} {
		err := CheckHTTPInput(tc.url, tc.method, tc.headers)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q %q %q: %v, want accepted", tc.url, tc.method, tc.headers, err)
			}
			continue
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q %q: %v, want an ErrConfig containing %q", tc.url, tc.method, tc.headers, err, tc.want)
		}
	}
}

func TestCheckRequestPath(t *testing.T) {
	for path, ok := range map[string]bool{"/": true, "/a/b?c=d%20e": true, "a": false, "/\r\nX-Injected: 1": false, "/a b": false, "": false} {
		if err := CheckRequestPath(path); (err == nil) != ok {
			t.Errorf("CheckRequestPath(%q) = %v", path, err)
		}
	}
}
