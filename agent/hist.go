package agent

import (
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ukbench/ukbench/loadgen"
)

// histEncoding is the HdrHistogram encoding version of the histograms in
// a result: the compressed V2 format, which keeps every count (lossless).
const histEncoding = hdrhistogram.V2CompressedEncodingCookieBase

// encodedHist is a step's loadgen.Recorder in HdrHistogram's compressed
// encoding (base64 text), one field per histogram.
type encodedHist struct {
	Latency     string `json:"latency"`
	Service     string `json:"service"`
	SendDelay   string `json:"send_delay"`
	GapIntended string `json:"gap_intended"`
	GapActual   string `json:"gap_actual"`
}

// encodeRecorder encodes every histogram of r.
func encodeRecorder(r *loadgen.Recorder) (encodedHist, error) {
	var e encodedHist
	for _, f := range []struct {
		h   *hdrhistogram.Histogram
		out *string
	}{{r.Latency, &e.Latency}, {r.Service, &e.Service}, {r.SendDelay, &e.SendDelay}, {r.GapIntended, &e.GapIntended}, {r.GapActual, &e.GapActual}} {
		b, err := f.h.Encode(histEncoding)
		if err != nil {
			return encodedHist{}, fmt.Errorf("encode histogram: %w", err)
		}
		*f.out = string(b)
	}
	return e, nil
}

// decodeRecorder is encodeRecorder's inverse. Errors wrap ErrProtocol.
func decodeRecorder(e encodedHist) (*loadgen.Recorder, error) {
	r := loadgen.NewRecorder()
	for _, f := range []struct {
		in  string
		out **hdrhistogram.Histogram
	}{{e.Latency, &r.Latency}, {e.Service, &r.Service}, {e.SendDelay, &r.SendDelay}, {e.GapIntended, &r.GapIntended}, {e.GapActual, &r.GapActual}} {
		h, err := hdrhistogram.Decode([]byte(f.in))
		if err != nil {
			return nil, fmt.Errorf("%w: decode histogram: %v", ErrProtocol, err)
		}
		*f.out = h
	}
	return r, nil
}
