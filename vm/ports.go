package vm

import (
	"fmt"
	"net"
)

// freePort returns a port on 127.0.0.1 that is free for both TCP and UDP
// at the time of the call. QEMU binds it a moment later; a port taken in
// between makes QEMU fail to start, which Start reports.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both TCP and UDP on 127.0.0.1")
}

// portFree checks that a port on 127.0.0.1 can be bound for proto.
func portFree(proto string, port int) error {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	return l.Close()
}
