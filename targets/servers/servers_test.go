package servers

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

func startTestDNS(t *testing.T, cfg DNSConfig) *DNSServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Listen = "127.0.0.1:0"
	s, err := StartDNS(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("dns server: %v", err)
		}
	})
	return s
}

func TestDNSAnswersAsAnAuthoritativeServer(t *testing.T) {
	s := startTestDNS(t, DNSConfig{})
	tests := []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
		aa      bool
	}{
		{"www.example.com.", dns.TypeA, dns.RcodeSuccess, 1, true},
		{"WWW.Example.COM.", dns.TypeA, dns.RcodeSuccess, 1, true}, // names are case-insensitive
		{"www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, 1, true},
		{"www.example.com.", dns.TypeTXT, dns.RcodeSuccess, 0, true}, // NODATA
		{"nope.example.com.", dns.TypeA, dns.RcodeNameError, 0, true},
		{"www.example.org.", dns.TypeA, dns.RcodeRefused, 0, false},
	}
	for _, net := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: net, Timeout: 2 * time.Second}
		for _, tt := range tests {
			m := new(dns.Msg)
			m.SetQuestion(tt.name, tt.qtype)
			r, _, err := c.Exchange(m, s.Addr)
			if err != nil {
				t.Fatalf("%s %s %s: %v", net, tt.name, dns.TypeToString[tt.qtype], err)
			}
			if r.Rcode != tt.rcode || len(r.Answer) != tt.answers || r.Authoritative != tt.aa {
				t.Errorf("%s %s %s: rcode %s, %d answers, aa %v; want %s, %d, %v", net, tt.name, dns.TypeToString[tt.qtype],
					dns.RcodeToString[r.Rcode], len(r.Answer), r.Authoritative, dns.RcodeToString[tt.rcode], tt.answers, tt.aa)
			}
			if r.Rcode == dns.RcodeNameError && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("NXDOMAIN for %s without the SOA in authority: %v", tt.name, r.Ns)
			}
		}
	}
}

func TestDNSDropEvery(t *testing.T) {
	s := startTestDNS(t, DNSConfig{Sockets: 1, Faults: Faults{DropEvery: 3}})
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	lost := 0
	for i := 0; i < 9; i++ {
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", dns.TypeA)
		if _, _, err := c.Exchange(m, s.Addr); err != nil {
			lost++
		}
	}
	if lost != 3 {
		t.Errorf("lost %d of 9 with DropEvery 3, want 3", lost)
	}
}

func TestParseZoneErrors(t *testing.T) {
	tests := []struct{ zone, mention string }{
		{"$ORIGIN a.\n@ IN A 192.0.2.1\n", "no SOA"},
		{"$ORIGIN a.\n@ IN SOA ns. h. 1 2 3 4 5\nwww IN BOGUS x\n", "bad.zone"},
		{"$ORIGIN a.\n@ IN SOA ns. h. 1 2 3 4 5\nwww.b. IN A 192.0.2.1\n", "outside the zone"},
	}
	for _, tt := range tests {
		_, err := ParseZone(strings.NewReader(tt.zone), "", "bad.zone")
		if err == nil || !errors.Is(err, ErrZone) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("zone %q: error %v, want ErrZone mentioning %q", tt.zone, err, tt.mention)
		}
	}
	if _, err := LoadZone("/nonexistent/zone", ""); err == nil || !strings.Contains(err.Error(), "/nonexistent/zone") {
		t.Errorf("missing zone file: error %v, want it named", err)
	}
}

func TestHTTPServesPageAndHealth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := StartHTTP(ctx, HTTPConfig{Listen: "127.0.0.1:0", Faults: Faults{DropEvery: 2}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || len(body) != DefaultBodySize || !strings.HasPrefix(body, "<!DOCTYPE html>") {
		t.Errorf("GET / = %d with %d bytes, want 200 with a %d-byte page", code, len(body), DefaultBodySize)
	}
	if code, _ := get("/"); code != 503 {
		t.Errorf("second GET / with DropEvery 2 = %d, want 503", code)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	if code, _ := get("/missing"); code != 404 {
		t.Errorf("GET /missing = %d, want 404", code)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("http server still running 3 s after its context ended")
	}
	for _, n := range []int{1, 50, 612, 4096} {
		if got := len(Page(n)); got != n {
			t.Errorf("Page(%d) is %d bytes", n, got)
		}
	}
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := StartDNS(ctx, DNSConfig{Listen: "nonsense"}); err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Errorf("bad dns listen address: %v", err)
	}
	if _, err := StartHTTP(ctx, HTTPConfig{Listen: "127.0.0.1:0", BodySize: -1}); err == nil || !strings.Contains(err.Error(), "body size") {
		t.Errorf("negative body size: %v", err)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := StartHTTP(hctx, HTTPConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartHTTP(ctx, HTTPConfig{Listen: s.Addr}); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("port taken: %v", err)
	}
}

// TestPreciseDelay: the fault delay must resolve 10 % differences of a few
// milliseconds, which Go's timers alone do not (they round 2 ms and 2.2 ms
// up to about the same 3 ms). The test looks at the difference of the
// medians, which load on the machine shifts alike.
func TestPreciseDelay(t *testing.T) {
	median := func(d time.Duration) time.Duration {
		var took []time.Duration
		for i := 0; i < 31; i++ {
			begin := time.Now()
			preciseSleep(d)
			took = append(took, time.Since(begin))
		}
		sort.Slice(took, func(a, b int) bool { return took[a] < took[b] })
		return took[len(took)/2]
	}
	short, long := median(2*time.Millisecond), median(2200*time.Microsecond)
	if short < 2*time.Millisecond || diffOutside(long-short, 100*time.Microsecond, 350*time.Microsecond) {
		t.Errorf("median sleeps %v for 2 ms and %v for 2.2 ms: want ≥ 2 ms and 200 µs apart", short, long)
	}
}

func diffOutside(d, lo, hi time.Duration) bool { return d < lo || d > hi }

// TestDNSWithoutControlMessages serves as on OSv, where the sockets take
// no destination-address control messages.
func TestDNSWithoutControlMessages(t *testing.T) {
	defer func(f func(*net.UDPConn) bool) { pktinfoCheck = f }(pktinfoCheck)
	pktinfoCheck = func(*net.UDPConn) bool { return false }
	s := startTestDNS(t, DNSConfig{Listen: "127.0.0.1:0", Sockets: 2})
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	r, err := dns.Exchange(m, s.Addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("answer = %v, %v", r, err)
	}
}

// TestDNSSocketsReusePortButNotTCP: the UDP sockets share their port
// (SO_REUSEPORT), the one TCP listener does not ask to (OSv crashes on the
// first TCP connection to a reuse-port listener beside reuse-port UDP
// sockets), and both answer.
func TestDNSSocketsReusePortButNotTCP(t *testing.T) {
	conns, tl, addr, err := bindDNS(t.Context(), "127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	reuse := func(c syscall.Conn) int {
		t.Helper()
		raw, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		v := -1
		raw.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT) })
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, pc := range conns {
		defer pc.Close()
		if v := reuse(pc.(*net.UDPConn)); v == 0 || pc.LocalAddr().String() != addr {
			t.Errorf("UDP socket %d on %s: SO_REUSEPORT %d, want set, on %s", i, pc.LocalAddr(), v, addr)
		}
	}
	if v := reuse(tl.(*net.TCPListener)); v != 0 || tl.Addr().String() != addr {
		t.Errorf("TCP listener on %s: SO_REUSEPORT %d, want unset, on %s", tl.Addr(), v, addr)
	}
}
