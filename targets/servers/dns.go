package servers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// DNSConfig configures the DNS server.
type DNSConfig struct {
	Listen  string // host:port; port 0 picks a free one
	Zone    *Zone  // default: DefaultZone
	Sockets int    // UDP sockets sharing the port with SO_REUSEPORT; default DefaultDNSSockets, at most MaxDNSSockets
	Faults  Faults
}

// DNSServer is a running authoritative DNS server (UDP and TCP).
type DNSServer struct {
	// Addr is the address it listens on (UDP and TCP share the port).
	Addr    string
	servers []*dns.Server
	errs    chan error
	n       int
}

// StartDNS binds the sockets and starts serving. It returns once every
// socket is listening; Stop (or Wait after ctx ends) releases them.
func StartDNS(ctx context.Context, cfg DNSConfig) (*DNSServer, error) {
	if cfg.Zone == nil {
		z, err := LoadZone("", "")
		if err != nil {
			return nil, err
		}
		cfg.Zone = z
	}
	if cfg.Sockets == 0 {
		cfg.Sockets = DefaultDNSSockets
	}
	if cfg.Sockets < 0 || cfg.Sockets > MaxDNSSockets {
		return nil, fmt.Errorf("dns server: sockets %d: want 1 to %d", cfg.Sockets, MaxDNSSockets)
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("dns server: listen address %q: want HOST:PORT: %v", cfg.Listen, err)
	}
	h := &dnsHandler{zone: cfg.Zone, faults: &faultState{f: cfg.Faults}}
	conns, tl, addr, err := bindDNS(ctx, cfg.Listen, cfg.Sockets)
	if err != nil {
		return nil, err
	}
	s := &DNSServer{Addr: addr, errs: make(chan error, len(conns)+1)}
	started := make(chan struct{}, len(conns)+1)
	for _, pc := range conns {
		if !pktinfoCheck(pc.(*net.UDPConn)) {
			pc = plainPacketConn{pc}
		}
		srv := &dns.Server{PacketConn: pc, Handler: h, UDPSize: ednsSize}
		s.add(srv, started)
	}
	// TCP: any number of pipelined queries per connection (RFC 7766);
	// miekg/dns closes a connection after 128 by default.
	s.add(&dns.Server{Listener: tl, Handler: h, MaxTCPQueries: -1}, started)
	// A socket that fails before it serves (miekg/dns sets socket options
	// first, which a unikernel may not support) never reports started:
	// wait for each to start or fail.
	for range s.n {
		select {
		case <-started:
		case err := <-s.errs:
			// Closing the sockets ends the other servers, started or not;
			// their results go to the buffered channel.
			s.Stop()
			for _, pc := range conns {
				pc.Close()
			}
			tl.Close()
			if err == nil {
				err = errors.New("stopped before it started")
			}
			return nil, fmt.Errorf("dns server: %w", err)
		}
	}
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	return s, nil
}

// pktinfoUsable reports whether a socket takes the destination-address
// control messages miekg/dns asks for on a *net.UDPConn (to answer from the
// address a query came to). OSv does not have them: setsockopt fails with
// "protocol not available" and the server would not start.
func pktinfoUsable(c *net.UDPConn) bool {
	err6 := ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	err4 := ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	return err6 == nil || err4 == nil
}

// pktinfoCheck is pktinfoUsable; a variable so tests can take the OSv path.
var pktinfoCheck = pktinfoUsable

// plainPacketConn hides a *net.UDPConn from miekg/dns, which then serves
// it with plain ReadFrom/WriteTo, without control messages: right for a
// guest with one address.
type plainPacketConn struct{ net.PacketConn }

// bindDNS binds sockets UDP sockets (SO_REUSEPORT) and a TCP listener on
// one port. With port 0, the port the first UDP socket gets may be taken
// for TCP; then it tries another (a few times).
func bindDNS(ctx context.Context, listen string, sockets int) ([]net.PacketConn, net.Listener, string, error) {
	_, port, _ := net.SplitHostPort(listen)
	lc := net.ListenConfig{Control: reusePort}
	for attempt := 0; ; attempt++ {
		var conns []net.PacketConn
		closeAll := func() {
			for _, c := range conns {
				c.Close()
			}
		}
		addr := listen
		for i := 0; i < sockets; i++ {
			pc, err := lc.ListenPacket(ctx, "udp", addr)
			if err != nil {
				closeAll()
				return nil, nil, "", fmt.Errorf("dns server: listen udp %s: %w", addr, err)
			}
			_ = pc.(*net.UDPConn).SetReadBuffer(4 << 20)
			conns = append(conns, pc)
			addr = pc.LocalAddr().String() // later sockets join the same port
		}
		// One TCP listener: no SO_REUSEPORT. OSv v0.57 takes a TCP
		// listener with it beside two reuse-port UDP sockets, then
		// crashes (a page fault in in_pcbref from tcp_input) on the
		// first connection.
		tl, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err == nil {
			return conns, tl, addr, nil
		}
		closeAll()
		if port != "0" || attempt == 9 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, "", fmt.Errorf("dns server: listen tcp %s: %w", addr, err)
		}
	}
}

func (s *DNSServer) add(srv *dns.Server, started chan<- struct{}) {
	srv.NotifyStartedFunc = func() { started <- struct{}{} }
	s.servers = append(s.servers, srv)
	s.n++
	go func() { s.errs <- srv.ActivateAndServe() }()
}

// Stop shuts every socket down. It is safe to call more than once.
func (s *DNSServer) Stop() {
	for _, srv := range s.servers {
		_ = srv.Shutdown() // an error means it was already stopped
	}
}

// Wait blocks until every socket has stopped and returns the first serving
// error, if any.
func (s *DNSServer) Wait() error {
	var first error
	for i := 0; i < s.n; i++ {
		if err := <-s.errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// dnsHandler answers from a zone. It is shared by every socket.
type dnsHandler struct {
	zone   *Zone
	faults *faultState
}

// ServeDNS answers one query that miekg/dns has read and let through
// (dns.DefaultMsgAcceptFunc: a query or notify with one question and few
// records). The reply fits what the client can take (RFC 1035 section
// 4.2.1, RFC 6891 section 6.2.5: 512 bytes over UDP, or the size its OPT
// record offers; 65535 over TCP), truncated and marked so when it does
// not.
func (h *dnsHandler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if h.faults.active() && h.faults.apply() {
		return
	}
	m := new(dns.Msg)
	opt, opts := r.IsEdns0(), 0
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	switch {
	case opts > 1:
		m.SetRcode(r, dns.RcodeFormatError) // RFC 6891 section 6.1.1
	case opt != nil && opt.Version() != 0:
		m.SetRcode(r, dns.RcodeBadVers) // RFC 6891 section 6.1.3; needs the OPT record below
	case r.Opcode != dns.OpcodeQuery:
		m.SetRcode(r, dns.RcodeNotImplemented)
	case len(r.Question) != 1:
		m.SetRcode(r, dns.RcodeFormatError)
	case r.Question[0].Qclass != dns.ClassINET && r.Question[0].Qclass != dns.ClassANY:
		m.SetRcode(r, dns.RcodeRefused) // the zone is of class IN
	default:
		m.SetReply(r)
		h.zone.answer(m, r.Question[0])
	}
	size := dns.MaxMsgSize
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size = dns.MinMsgSize
	}
	if opt != nil {
		// A query with an OPT record gets one (RFC 6891 section 6.1.1).
		m.SetEdns0(ednsSize, false)
		if size == dns.MinMsgSize {
			size = max(size, int(opt.UDPSize()))
		}
	}
	m.Truncate(size)
	_ = w.WriteMsg(m) // a client that went away is not our error
}

// ednsSize is the UDP payload the server says it takes (RFC 6891),
// the read buffer of its UDP sockets (dns.Server.UDPSize).
const ednsSize = 4096

func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}
