package loadgen

import (
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DNS over TCP (RFC 7766). Each of the generator's sockets is then one TCP
// connection carrying pipelined queries, each framed by its two-byte
// length. Answers may come in any order and are matched by ID and question
// as over UDP, with the same ID table, batches and accounting (dnsSocket,
// which dnsTCP embeds).
// What differs:
//   - The loop waits in epoll for answers or the next send, whichever comes
//     first. An answer is timed at the arrival of the last segment of the
//     read that completed it (kernel stamps, stampedReader): TCP has no
//     per-message stamp, but one read rarely holds answers that arrived far
//     apart, since the loop reads as soon as the socket is readable.
//   - A batch is one write(2). When the server reads slower than the
//     schedule, the write waits (reading answers meanwhile, so neither side's
//     buffers stay full); the queries leave late and are counted late.
//   - A connection the server closes or resets loses the queries in flight
//     on it ("reset" errors); the next send reconnects. Queries due while no
//     connection can be made are not sent and count as "connect" errors, so
//     an unreachable server shows as loss, never a hang.

// dnsTCP is one socket of a DNS step over TCP: one connection at a time.
type dnsTCP struct {
	dnsSocket
	tcp        *tcpStream
	resets     uint64 // measured queries lost with a TCP connection
	connErrors uint64 // measured queries not sent: no TCP connection
}

func (s *dnsTCP) run(clk clock, warmup time.Duration, stop *atomic.Bool) {
	s.loop(s, clk, warmup, stop)
}

func (s *dnsTCP) close() { s.tcp.close() }

func (s *dnsTCP) addErrors(errs map[string]uint64) {
	addNonZero(errs, "reset", s.resets)
	addNonZero(errs, "connect", s.connErrors)
}

// wait blocks until the clock reads until, stop is set, or an answer
// arrives.
func (s *dnsTCP) wait(until time.Duration, stop *atomic.Bool) { s.tcp.wait(s.clk, until, stop) }

// tcpFrameMax is the largest DNS-over-TCP frame: the length and a message.
const tcpFrameMax = 2 + 65535

// tcpStream is one DNS-over-TCP connection and its buffers; it belongs to
// its socket's loop.
type tcpStream struct {
	sa     unix.Sockaddr
	fd     int // -1 while there is no connection
	epfd   int
	events [4]unix.EpollEvent
	wbuf   []byte // the frames of the batch being written
	rbuf   []byte // bytes read and not yet framed are rbuf[:rlen]
	rlen   int
	reader stampedReader
	sndbuf int // SO_SNDBUF when > 0 (tests: a small one makes writes wait)
}

func newTCPStream(addr *net.UDPAddr) (*tcpStream, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &tcpStream{sa: sockaddrOf(addr.IP, addr.Port), fd: -1, epfd: epfd,
		wbuf: make([]byte, 0, dnsBatch*(2+dnsMaxQuery)), rbuf: make([]byte, 2*tcpFrameMax)}, nil
}

// connect opens the connection, waiting at most limit for the handshake.
func (t *tcpStream) connect(limit time.Duration) error {
	fd, err := unix.Socket(sockFamily(t.sa), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if t.sndbuf > 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, t.sndbuf)
	}
	enableArrivalStamps(fd)
	err = unix.Connect(fd, t.sa)
	if err == unix.EINPROGRESS {
		pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, perr := unix.Poll(pfd[:], int(limit.Milliseconds()))
		switch {
		case perr != nil:
			err = perr
		case n == 0:
			err = unix.ETIMEDOUT
		default:
			soErr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			err = gerr
			if gerr == nil && soErr != 0 {
				err = unix.Errno(soErr)
			}
		}
	}
	if err == nil {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
		err = unix.EpollCtl(t.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		unix.Close(fd)
		return err
	}
	t.fd, t.rlen = fd, 0
	return nil
}

// drop closes the connection (which also leaves the epoll set).
func (t *tcpStream) drop() {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
	t.rlen = 0
}

func (t *tcpStream) close() {
	t.drop()
	unix.Close(t.epfd)
}

// wait blocks until the connection has something to read, the clock reads
// until, or stop is set, keeping the thread's P.
func (t *tcpStream) wait(clk clock, until time.Duration, stop *atomic.Bool) {
	if t.fd < 0 {
		clk.sleepUntil(until, stop)
		return
	}
	d := min(until-clk.now(), maxSleepChunk)
	if d > 0 && !stop.Load() {
		epollWait(t.epfd, t.events[:], d)
	}
}

// waitWritable blocks up to d until the connection can take more bytes or
// has bytes to read.
func (t *tcpStream) waitWritable(d time.Duration) {
	pfd := [1]unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLOUT | unix.POLLIN}}
	_, _ = unix.Poll(pfd[:], int(d.Milliseconds()))
}

// connectLimit bounds one connection attempt: the query timeout, at most a
// second, so that a silent server cannot stall the schedule for long.
func (s *dnsTCP) connectLimit() time.Duration {
	return min(s.gen.cfg.Timeout, time.Second)
}

// flush sends k prepared queries as one write, connecting first when
// there is no connection.
func (s *dnsTCP) flush(k int, warmup time.Duration, stop *atomic.Bool) {
	t := s.tcp
	s.live.sent.Add(uint64(k))
	if t.fd < 0 {
		if err := t.connect(s.connectLimit()); err != nil {
			// They waited for a connection that never came: blocked, not
			// the generator's own delay.
			now := s.clk.now()
			for i := 0; i < k; i++ {
				s.stats.account(s.batchIntent[i], now, true)
				if s.batchIntent[i] >= warmup {
					s.connErrors++
				}
			}
			s.oldest = s.next // none of these IDs is in flight
			return
		}
	}
	b := t.wbuf[:0]
	for _, m := range s.sendMsgs[:k] {
		b = append(b, byte(len(m)>>8), byte(len(m)))
		b = append(b, m...)
	}
	// In flight from the first byte: the server may answer the first
	// frames while the rest still wait to be written.
	start := s.clk.now()
	for i := 0; i < k; i++ {
		slot := &s.slots[s.batchUse[i]&(dnsIDs-1)]
		slot.sent, slot.busy = start, true
	}
	written := 0
	for written < len(b) && t.fd >= 0 {
		nw, err := rawWrite(t.fd, b[written:])
		switch {
		case err == nil:
			written += nw
		case err == unix.EAGAIN:
			if stop.Load() || s.clk.now() >= s.cutoff {
				s.drop() // the step is over; what is unsent is lost
				continue
			}
			// The server reads slower than the schedule: take its answers
			// meanwhile, so that neither side's buffers stay full.
			// The queries due meanwhile queue behind this write: blocked
			// too, until the schedule catches up (prepare).
			s.waited = true
			s.receive()
			if t.fd >= 0 {
				t.waitWritable(time.Millisecond)
			}
		default:
			s.drop() // counts this batch's queries with the others lost
		}
	}
	// The queries left when the write completed: late if it waited, and
	// blocked then (the server's back-pressure, not the generator's
	// delay).
	sentAt := s.clk.now()
	for i := 0; i < k; i++ {
		s.stats.account(s.batchIntent[i], sentAt, s.batchBlocked[i] || s.waited)
	}
}

// drop closes the connection; every query in flight on it is lost.
func (s *dnsTCP) drop() {
	s.tcp.drop()
	for u := s.oldest; u != s.next; u++ {
		slot := &s.slots[u&(dnsIDs-1)]
		if slot.busy {
			slot.busy = false
			if slot.measured {
				s.resets++
			}
		}
	}
	s.oldest = s.next
}

// receive reads what the connection has, without blocking, and takes
// every whole answer in it.
func (s *dnsTCP) receive() {
	t := s.tcp
	for t.fd >= 0 {
		space := len(t.rbuf) - t.rlen
		nr, at, stamped, err := t.reader.read(t.fd, t.rbuf[t.rlen:], s.clk)
		if err == unix.EAGAIN {
			return
		}
		if err != nil || nr == 0 {
			s.drop() // closed or reset by the server
			return
		}
		if !stamped {
			at = s.clk.now()
		}
		t.rlen += nr
		s.frames(at)
		if nr < space {
			return // the socket is empty
		}
	}
}

// frames takes every whole frame in the bytes read (rbuf[:rlen]) as an
// answer arrived at at, and moves the rest, a frame not yet whole, to the
// start of rbuf. What stays is shorter than tcpFrameMax, so rbuf (twice
// that) always has room for the next read.
func (s *dnsTCP) frames(at time.Duration) {
	t := s.tcp
	off := 0
	for t.rlen-off >= 2 {
		size := int(t.rbuf[off])<<8 | int(t.rbuf[off+1])
		if t.rlen-off-2 < size {
			break
		}
		s.answer(t.rbuf[off+2:off+2+size], at)
		off += 2 + size
	}
	t.rlen = copy(t.rbuf, t.rbuf[off:t.rlen])
}
