package loadgen_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
)

// startMisbehavingDNS answers each query in turn with: a short datagram, a
// "response" without the QR bit, the right ID with another question, a
// correct answer, then the same correct answer again (a duplicate). Only
// the fourth kind is a good answer.
func startMisbehavingDNS(t *testing.T) string {
	t.Helper()
	return loadgen.StartUDPServer(t, func(c *net.UDPConn, from netip.AddrPort, n int, q []byte) {
		switch n % 4 {
		case 0:
			c.WriteToUDPAddrPort(q[:5], from) // malformed: shorter than a header
		case 1:
			c.WriteToUDPAddrPort(q, from) // malformed: QR bit clear
		case 2:
			q[2] |= 0x80
			q[len(q)-5] ^= 0x20 // mismatch: flip a letter's case in the question
			c.WriteToUDPAddrPort(q, from)
		case 3:
			q[2] |= 0x80
			c.WriteToUDPAddrPort(q, from)
			c.WriteToUDPAddrPort(q, from) // a duplicate: late
		}
	})
}

func TestDNSBadAnswersAreCountedNotCrashedOn(t *testing.T) {
	addr := startMisbehavingDNS(t)
	g, err := loadgen.NewDNS(loadgen.DNSConfig{Server: addr, Sockets: 1, Timeout: 200 * time.Millisecond,
		Queries: []loadgen.DNSQuery{{Name: "www.example.com.", Type: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.RunStep(context.Background(), loadgen.StepSpec{Rate: 400, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Step
	quarter := s.Sent / 4
	near := func(name string, got uint64) {
		if got+2 < quarter || got > quarter+2 {
			t.Errorf("%s = %d of %d sent, want about a quarter (errors %v)", name, got, s.Sent, s.Errors)
		}
	}
	near("answered", s.Answered)
	near("malformed", s.Errors["malformed"]/2)
	near("mismatch", s.Errors["mismatch"])
	near("late_answer", s.Errors["late_answer"])
	// Queries whose only answer was bad time out: three quarters.
	near("timeout", s.Errors["timeout"]/3)
}
