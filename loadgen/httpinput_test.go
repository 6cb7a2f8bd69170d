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
