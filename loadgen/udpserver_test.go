package loadgen

import (
	"net"
	"net/netip"
	"testing"
)

// startUDPServer serves UDP on a free loopback port until the test ends:
// reply gets each datagram q (the n-th, from 0; valid until reply returns,
// and reply may change it in place) and answers, if at all, through c to
// from. The loop allocates nothing of its own, so a reply that allocates
// nothing keeps allocation counts the generator's. It returns the address.
func startUDPServer(t testing.TB, reply func(c *net.UDPConn, from netip.AddrPort, n int, q []byte)) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for n := 0; ; n++ {
			size, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			reply(c, from, n, buf[:size])
		}
	}()
	return c.LocalAddr().String()
}
