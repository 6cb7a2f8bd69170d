package agent

import (
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
)

// The histograms cross the wire losslessly: every count, hence every
// percentile, of the decoded recorder is the original's.
func TestRecorderEncodingLossless(t *testing.T) {
	r := loadgen.NewRecorder()
	for i := range 5000 {
		at := time.Duration(i) * 37 * time.Microsecond
		r.Record(at, at+time.Duration(i%7)*time.Microsecond, at+time.Duration(50+i*i%90_000)*time.Microsecond)
	}
	e, err := encodeRecorder(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeRecorder(e)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Latency.Equals(r.Latency) || !d.Service.Equals(r.Service) || !d.SendDelay.Equals(r.SendDelay) || !d.GapActual.Equals(r.GapActual) {
		t.Error("decoded histograms differ from the encoded ones")
	}
	if _, err := decodeRecorder(encodedHist{Latency: "not base64"}); err == nil {
		t.Error("a malformed histogram decoded")
	}
}
