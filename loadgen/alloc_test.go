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
