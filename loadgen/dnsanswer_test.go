package loadgen

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDNSAnswerWithoutQuestion (found by FuzzDNSAnswer): an answer with no
// question section answers its ID only with an error rcode (FORMERR and
// the like, counted as that error); NOERROR or NXDOMAIN without the
// question is a mismatch, not a good answer.
func TestDNSAnswerWithoutQuestion(t *testing.T) {
	for _, tc := range []struct {
		rcode          int
		mismatch, code uint64
	}{
		{dns.RcodeNameError, 1, 0},
		{dns.RcodeSuccess, 1, 0},
		{dns.RcodeServerFailure, 0, 1},
		{dns.RcodeFormatError, 0, 1},
	} {
		s := fuzzDNSSocket(t)
		s.slots[7] = dnsSlot{busy: true, measured: true}
		b := []byte{0, 7, 0x80, byte(tc.rcode), 0, 0, 0, 0, 0, 0, 0, 0}
		s.answer(b, time.Millisecond)
		if s.answered != 0 || s.mismatch != tc.mismatch || s.rcodes[tc.rcode] != tc.code {
			t.Errorf("%s without a question: answered %d, mismatch %d, rcode count %d; want 0, %d, %d",
				dns.RcodeToString[tc.rcode], s.answered, s.mismatch, s.rcodes[tc.rcode], tc.mismatch, tc.code)
		}
	}
}
