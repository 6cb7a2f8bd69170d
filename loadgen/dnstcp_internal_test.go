package loadgen

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestDNSOverTCPSlowReaderLosesNothing: the server stops reading for
// 300 ms while the generator's send buffer is small, so batches wait to be
// written while the answers to their first queries already come back.
// Every query must still be answered and matched, and the sends that
// waited counted late.
func TestDNSOverTCPSlowReaderLosesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEach(ln, func(c net.Conn) {
		for n := 0; ; n++ {
			if n == 500 {
				time.Sleep(300 * time.Millisecond)
			}
			var size [2]byte
			if _, err := io.ReadFull(c, size[:]); err != nil {
				return
			}
			frame := make([]byte, 2+binary.BigEndian.Uint16(size[:]))
			copy(frame, size[:])
			if _, err := io.ReadFull(c, frame[2:]); err != nil {
				return
			}
			frame[4] |= 0x80
			if _, err := c.Write(frame); err != nil {
				return
			}
		}
	})
	g, err := NewDNS(DNSConfig{Server: ln.Addr().String(), Transport: "tcp", Sockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	g.tcpSendBuffer = 4096
	out, err := g.RunStep(context.Background(), StepSpec{Rate: 20000, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Step
	if s.Answered != s.Sent || len(s.Errors) != 0 {
		t.Errorf("answered %d of %d, errors %v: want every query answered and matched", s.Answered, s.Sent, s.Errors)
	}
	if s.Lag.LateSends == 0 || s.Lag.MaxLateUS < 100_000 {
		t.Errorf("lag %+v: sends that waited out a 300 ms pause must count late", s.Lag)
	}
}
