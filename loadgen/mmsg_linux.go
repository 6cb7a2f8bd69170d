package loadgen

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// mmsgConn sends and receives batches of datagrams on a connected UDP
// socket with sendmmsg(2) and recvmmsg(2). x/net's ReadBatch parses a source
// address per message and allocates; this does not. The headers, vectors
// and the closures handed to the runtime poller are built once, so a batch
// costs no allocation. Sending and receiving may run concurrently (one
// goroutine each); each direction has a single user.
type mmsgConn struct {
	rc syscall.RawConn

	recvHdrs []mmsghdr
	recvIovs []unix.Iovec
	recvBufs [][]byte
	recvN    int
	recvErr  syscall.Errno
	recvFn   func(fd uintptr) bool

	sendHdrs []mmsghdr
	sendIovs []unix.Iovec
	sendLen  int
	sendN    int
	sendErr  syscall.Errno
	sendFn   func(fd uintptr) bool
}

func newMmsgConn(c *net.UDPConn, batch, bufSize int) (*mmsgConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	m := &mmsgConn{
		rc:       rc,
		recvHdrs: make([]mmsghdr, batch), recvIovs: make([]unix.Iovec, batch), recvBufs: make([][]byte, batch),
		sendHdrs: make([]mmsghdr, batch), sendIovs: make([]unix.Iovec, batch),
	}
	for i := range m.recvHdrs {
		m.recvBufs[i] = make([]byte, bufSize)
		m.recvIovs[i].Base = &m.recvBufs[i][0]
		m.recvIovs[i].SetLen(bufSize)
		m.recvHdrs[i].hdr.Iov = &m.recvIovs[i]
		m.recvHdrs[i].hdr.SetIovlen(1)
		m.sendHdrs[i].hdr.Iov = &m.sendIovs[i]
		m.sendHdrs[i].hdr.SetIovlen(1)
	}
	m.recvFn = m.doRecv
	m.sendFn = m.doSend
	return m, nil
}

func (m *mmsgConn) doRecv(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.recvHdrs[0])), uintptr(len(m.recvHdrs)), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false // wait for the poller
	}
	m.recvN, m.recvErr = int(n), errno
	return true
}

// readBatch blocks until at least one datagram arrives (or the read
// deadline passes) and returns how many were read; datagram i is
// m.recvBufs[i][:m.recvHdrs[i].len].
func (m *mmsgConn) readBatch() (int, error) {
	if err := m.rc.Read(m.recvFn); err != nil {
		return 0, err // deadline or closed socket
	}
	if m.recvErr != 0 {
		return 0, m.recvErr
	}
	return m.recvN, nil
}

// datagram returns received datagram i of the last batch.
func (m *mmsgConn) datagram(i int) []byte { return m.recvBufs[i][:m.recvHdrs[i].len] }

func (m *mmsgConn) doSend(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&m.sendHdrs[0])), uintptr(m.sendLen), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false
	}
	m.sendN, m.sendErr = int(n), errno
	return true
}

// writeBatch sends msgs (at most the batch size) and returns how many left.
// An error concerns message number n (the first unsent one).
func (m *mmsgConn) writeBatch(msgs [][]byte) (int, error) {
	for i, b := range msgs {
		m.sendIovs[i].Base = &b[0]
		m.sendIovs[i].SetLen(len(b))
	}
	m.sendLen = len(msgs)
	if err := m.rc.Write(m.sendFn); err != nil {
		return 0, err
	}
	if m.sendErr != 0 {
		return 0, m.sendErr
	}
	return m.sendN, nil
}
