package report

import "testing"

func TestReadableLatency(t *testing.T) {
	for us, want := range map[float64]string{
		0: "0.00 µs", 12.345: "12.3 µs", 850: "850 µs", 999.4: "999 µs",
		1000: "1.00 ms", 1650: "1.65 ms", 23100: "23.1 ms", 231000: "231 ms",
		1.65e6: "1.65 s", 2.31e6: "2.31 s", 12.5e6: "12.5 s", 4.2e9: "4200 s",
	} {
		if got := readableLatency(us); got != want {
			t.Errorf("readableLatency(%v) = %q, want %q", us, got, want)
		}
	}
}
