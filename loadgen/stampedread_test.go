package loadgen

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStampedReaderTimesArrivalNotRead: bytes that wait 50 ms in the
// socket before they are read are timed when they arrived.
func TestStampedReaderTimesArrivalNotRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	enableArrivalStamps(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	clk := newClock()
	var r stampedReader
	buf := make([]byte, 100)
	// The kernel turns stamping on a moment after the first socket asks
	// (a deferred static-key switch): exchange until a read is stamped.
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatal("no arrival stamp from the kernel after 200 reads (SO_TIMESTAMPNS on TCP)")
		}
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, _, stamped, err := r.read(fd, buf, clk); err != nil {
			t.Fatal(err)
		} else if stamped {
			break
		}
		time.Sleep(5 * time.Millisecond) // bounded by the count above
	}
	sent := clk.now()
	if _, err := peer.Write([]byte("HTTP/1.1 200 OK\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	readAt := clk.now()
	n, at, stamped, err := r.read(fd, buf, clk)
	if err != nil || n != 17 {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if !stamped {
		t.Fatal("no arrival stamp from the kernel (SO_TIMESTAMPNS on TCP)")
	}
	if at < sent || at > sent+20*time.Millisecond || at >= readAt {
		t.Errorf("arrival %v for bytes written at %v and read at %v: want it near the write", at, sent, readAt)
	}
}
