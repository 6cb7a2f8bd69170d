package loadgen

import (
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// udpSocket is a connected UDP socket driven by sendmmsg(2) and recvmmsg(2)
// outside Go's netpoller, whose epoll wake-up and goroutine switch per
// datagram cost more than the datagram. The kernel stamps each received
// datagram with its arrival time (SO_TIMESTAMPNS), so reads may be lazy.
// x/net's ReadBatch would allocate a source address per datagram; this
// allocates nothing per batch. It has a single user.
type udpSocket struct {
	fd       int
	recvHdrs []mmsghdr
	recvIovs []unix.Iovec
	recvBufs [][]byte
	recvOOB  [][]byte
	sendHdrs []mmsghdr
	sendIovs []unix.Iovec
}

// oobSize holds one SCM_TIMESTAMPNS control message.
var oobSize = unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))

func dialUDPSocket(addr *net.UDPAddr, batch, bufSize int) (*udpSocket, error) {
	sa := sockaddrOf(addr.IP, addr.Port)
	fd, err := unix.Socket(sockFamily(sa), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("udp socket: SO_TIMESTAMPNS: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("udp socket: connect %v: %w", addr, err)
	}
	s := &udpSocket{
		fd:       fd,
		recvHdrs: make([]mmsghdr, batch), recvIovs: make([]unix.Iovec, batch), recvBufs: make([][]byte, batch),
		recvOOB:  make([][]byte, batch),
		sendHdrs: make([]mmsghdr, batch), sendIovs: make([]unix.Iovec, batch),
	}
	for i := range s.recvHdrs {
		s.recvBufs[i] = make([]byte, bufSize)
		s.recvIovs[i].Base = &s.recvBufs[i][0]
		s.recvIovs[i].SetLen(bufSize)
		s.recvHdrs[i].hdr.Iov = &s.recvIovs[i]
		s.recvHdrs[i].hdr.SetIovlen(1)
		s.recvOOB[i] = make([]byte, oobSize)
		s.sendHdrs[i].hdr.Iov = &s.sendIovs[i]
		s.sendHdrs[i].hdr.SetIovlen(1)
	}
	return s, nil
}

// readBatch reads the datagrams waiting, up to the batch size, without
// blocking; 0 means none. Datagram i is s.datagram(i).
func (s *udpSocket) readBatch() (int, error) {
	for i := range s.recvHdrs {
		h := &s.recvHdrs[i].hdr
		h.Control = &s.recvOOB[i][0]
		h.SetControllen(oobSize)
		h.Flags = 0
	}
	// Raw: the call never blocks (see rawNanosleep for why it matters).
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.recvHdrs[0])),
		uintptr(len(s.recvHdrs)), unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case unix.EAGAIN, unix.EINTR:
		return 0, nil
	}
	return 0, errno
}

// arrival returns when datagram i of the last batch arrived, on clk, from
// its kernel timestamp; ok is false when it carried none.
func (s *udpSocket) arrival(i int, clk clock) (time.Duration, bool) {
	h := &s.recvHdrs[i].hdr
	return cmsgArrival(s.recvOOB[i][:h.Controllen], clk)
}

// datagram returns received datagram i of the last batch.
func (s *udpSocket) datagram(i int) []byte { return s.recvBufs[i][:s.recvHdrs[i].len] }

// writeBatch sends msgs (at most the batch size) and returns how many left,
// without blocking. On an error, message n (the first unsent one) failed;
// a full send buffer (EAGAIN) is returned as (0, nil): try again.
func (s *udpSocket) writeBatch(msgs [][]byte) (int, error) {
	for i, b := range msgs {
		s.sendIovs[i].Base = &b[0]
		s.sendIovs[i].SetLen(len(b))
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.sendHdrs[0])),
		uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case unix.EAGAIN, unix.EINTR:
		return 0, nil
	}
	return 0, errno
}

// close releases the socket once both users have stopped using it.
func (s *udpSocket) close() error { return unix.Close(s.fd) }
