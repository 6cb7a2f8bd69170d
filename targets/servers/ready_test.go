package servers

import "testing"

func TestReadyLineRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		kind, addr string
		extra      []string
	}{
		{"dns", "127.0.0.1:5353", []string{"zone", "bench.test."}},
		{"http", "[::1]:8080", nil},
	} {
		line := ReadyLine(tc.kind, tc.addr, tc.extra...)
		if kind, addr, ok := ParseReadyLine(line); !ok || kind != tc.kind || addr != tc.addr {
			t.Errorf("ParseReadyLine(%q) = %q, %q, %v", line, kind, addr, ok)
		}
	}
	for _, line := range []string{"", "ukbench serve: ready", "ukbench serve: ready dns", "ukbench serve: readyx dns a", "booting: ukbench serve: ready dns a"} {
		if _, _, ok := ParseReadyLine(line); ok {
			t.Errorf("ParseReadyLine(%q) accepted a line that is not the ready line", line)
		}
	}
}
