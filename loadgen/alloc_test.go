package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startReflector answers every datagram with itself, QR bit set: a DNS
// "server" that allocates nothing, so the process's allocation count
// belongs to the generator alone.
func startReflector(t testing.TB) string {
	t.Helper()
	return startUDPServer(t, func(c *net.UDPConn, from netip.AddrPort, _ int, q []byte) {
		q[2] |= 0x80
		c.WriteToUDPAddrPort(q, from)
	})
}

// stepAllocs runs one DNS step and returns the mallocs and bytes the whole
// process made during it.
func stepAllocs(t testing.TB, g *DNS, spec StepSpec) (mallocs, bytes uint64, out StepOutcome) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := g.RunStep(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs, after.TotalAlloc - before.TotalAlloc, out
}

// TestDNSHotPathAllocFree: the allocations of a step do not grow with the
// number of queries (setup only), and memory stays flat when the step is
// ten times longer.
func TestDNSHotPathAllocFree(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; run without -race")
	}
	g, err := NewDNS(DNSConfig{Server: startReflector(t), Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	shortM, shortB, short := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 250 * time.Millisecond})
	longM, longB, long := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 2500 * time.Millisecond})
	if short.Step.Answered < 990 || long.Step.Answered < 9900 {
		t.Fatalf("reflector answered %d and %d, want about 1000 and 10000", short.Step.Answered, long.Step.Answered)
	}
	extraQueries := long.Step.Sent - short.Step.Sent
	perQuery := float64(longM-min(longM, shortM)) / float64(extraQueries)
	t.Logf("short step: %d mallocs %d B; 10× longer: %d mallocs %d B; %.4f mallocs per extra query", shortM, shortB, longM, longB, perQuery)
	if perQuery > 0.01 {
		t.Errorf("%.4f allocations per query in the hot path, want none (short %d, long %d mallocs)", perQuery, shortM, longM)
	}
	if longB > shortB*3/2+64<<10 {
		t.Errorf("a 10× longer step allocated %d B against %d B: memory grows with the step", longB, shortB)
	}
}

// startTCPEcho is startReflector for DNS over TCP: it answers every frame
// with itself, QR bit set, from fixed buffers.
func startTCPEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serveEach(ln, func(c net.Conn) {
		buf := make([]byte, 1<<16)
		have := 0
		for {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
			off := 0
			for have-off >= 2 {
				size := int(buf[off])<<8 | int(buf[off+1])
				if have-off-2 < size {
					break
				}
				buf[off+4] |= 0x80
				off += 2 + size
			}
			if _, err := c.Write(buf[:off]); err != nil {
				return
			}
			have = copy(buf, buf[off:have])
		}
	})
	return ln.Addr().String()
}

// TestDNSOverTCPHotPathAllocFree is TestDNSHotPathAllocFree for DNS over
// TCP.
func TestDNSOverTCPHotPathAllocFree(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; run without -race")
	}
	g, err := NewDNS(DNSConfig{Server: startTCPEcho(t), Transport: "tcp", Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	shortM, shortB, short := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 250 * time.Millisecond})
	longM, longB, long := stepAllocs(t, g, StepSpec{Rate: 4000, Duration: 2500 * time.Millisecond})
	if short.Step.Answered < 990 || long.Step.Answered < 9900 {
		t.Fatalf("echo answered %d and %d, want about 1000 and 10000 (errors %v)", short.Step.Answered, long.Step.Answered, long.Step.Errors)
	}
	perQuery := float64(longM-min(longM, shortM)) / float64(long.Step.Sent-short.Step.Sent)
	t.Logf("short step: %d mallocs %d B; 10× longer: %d mallocs %d B; %.4f mallocs per extra query", shortM, shortB, longM, longB, perQuery)
	if perQuery > 0.01 {
		t.Errorf("%.4f allocations per query in the hot path, want none (short %d, long %d mallocs)", perQuery, shortM, longM)
	}
	if longB > shortB*3/2+64<<10 {
		t.Errorf("a 10× longer step allocated %d B against %d B: memory grows with the step", longB, shortB)
	}
}

func TestDNSAnswerAllocFree(t *testing.T) {
	g, err := NewDNS(DNSConfig{Server: "127.0.0.1:53"})
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsSocket{gen: g, slots: make([]dnsSlot, dnsIDs), rec: NewRecorder()}
	resp := append([]byte(nil), g.queries[0]...)
	resp[2] |= 0x80
	var id uint16
	allocs := testing.AllocsPerRun(1000, func() {
		s.slots[id] = dnsSlot{busy: true, measured: true}
		resp[0], resp[1] = byte(id>>8), byte(id)
		s.answer(resp, time.Millisecond)
		id++
	})
	if allocs != 0 {
		t.Errorf("answer allocates %v times per answer", allocs)
	}
	if s.answered != 1001 {
		t.Errorf("answered %d of 1001", s.answered)
	}
}

// TestHTTPWorkerAllocs: the HTTP event loop allocates nothing per
// request, keep-alive or a new connection per request, on one thread or
// on two (the lanes' setup only).
func TestHTTPWorkerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; run without -race")
	}
	for _, tc := range []struct {
		newConn bool
		threads int
	}{{false, 1}, {true, 1}, {false, 2}, {true, 2}} {
		newConn := tc.newConn
		name := "keep-alive"
		if newConn {
			name = "new-connection"
		}
		name = fmt.Sprintf("%s/threads-%d", name, tc.threads)
		t.Run(name, func(t *testing.T) {
			var addr string
			if newConn {
				addr = serveRawCloseHTTP(t)
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				go serveTinyHTTP(ln)
				addr = ln.Addr().String()
			}
			g, err := NewHTTP(HTTPConfig{URL: "http://" + addr + "/", Connections: 2 * tc.threads, Threads: tc.threads, NewConnection: newConn})
			if err != nil {
				t.Fatal(err)
			}
			run := func(d time.Duration) (uint64, StepOutcome) {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				out, err := g.RunStep(context.Background(), StepSpec{Rate: 2000, Duration: d})
				if err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				return after.Mallocs - before.Mallocs, out
			}
			shortM, short := run(250 * time.Millisecond)
			longM, long := run(2500 * time.Millisecond)
			if short.Step.Answered < 490 || long.Step.Answered < 4900 {
				t.Fatalf("answered %d and %d (errors %v)", short.Step.Answered, long.Step.Answered, long.Step.Errors)
			}
			perReq := float64(longM-min(longM, shortM)) / float64(long.Step.Sent-short.Step.Sent)
			t.Logf("http %s: %.4f mallocs per extra request (short %d, long %d)", name, perReq, shortM, longM)
			if perReq > 0.05 {
				t.Errorf("%.4f allocations per %s request, want none", perReq, name)
			}
		})
	}
}

// serveRawCloseHTTP answers each connection's one request and closes it,
// on one thread with raw system calls, so that it allocates nothing and
// the process's allocation count belongs to the generator alone.
func serveRawCloseHTTP(t *testing.T) string {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 128); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		unix.Shutdown(lfd, unix.SHUT_RDWR) // wakes the blocked accept
		<-done
		unix.Close(lfd)
	})
	go func() {
		defer close(done)
		resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		buf := make([]byte, 4096)
		for {
			fd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
			if e == unix.EINTR || e == unix.ECONNABORTED {
				continue
			}
			if e != 0 {
				return
			}
			for have := 0; have < len(buf); {
				n, err := unix.Read(int(fd), buf[have:])
				if err != nil || n == 0 {
					break
				}
				have += n
				if indexCRLFCRLF(buf[:have]) >= 0 {
					unix.Write(int(fd), resp)
					break
				}
			}
			unix.Close(int(fd))
		}
	}()
	return fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// serveTinyHTTP answers every request on every connection with a fixed
// response, allocating per connection only.
func serveTinyHTTP(ln net.Listener) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	serveEach(ln, func(c net.Conn) {
		buf := make([]byte, 4096)
		have := 0
		for {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
			// One response per complete request head.
			for {
				i := indexCRLFCRLF(buf[:have])
				if i < 0 {
					break
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
				copy(buf, buf[i+4:have])
				have -= i + 4
			}
		}
	})
}

// serveEach runs handle on each connection ln accepts, in its own
// goroutine, and closes the connection after; it returns when ln closes.
func serveEach(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

func indexCRLFCRLF(b []byte) int {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return i
		}
	}
	return -1
}
