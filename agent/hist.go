package agent

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ukbench/ukbench/loadgen"
)

// histEncoding is the HdrHistogram encoding version of the histograms in
// a result: the compressed V2 format, which keeps every count (lossless).
const histEncoding = hdrhistogram.V2CompressedEncodingCookieBase

// ErrHistogram is wrapped (with ErrProtocol) by every error decoding an
// agent's histogram: malformed, or of a geometry beyond what ukbench's own
// recorders use.
var ErrHistogram = errors.New("bad histogram")

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

// geometry is what a histogram's memory depends on: its trackable range
// and significant figures, hence the length of its counts array.
type geometry struct {
	lowest, highest int64
	sigFigs         int64
	countsLen       int
}

// maxEncoded is the longest base64 text a histogram of g can encode to:
// the 8-byte envelope, and zlib's bound on the 40-byte header and the
// payload (at most one 9-byte varint per count).
func (g geometry) maxEncoded() int {
	raw := 40 + 9*g.countsLen
	zlibBound := raw + 5*(raw/16383+1) + 6 + 64 // stored blocks, header and checksum, with room
	return base64.StdEncoding.EncodedLen(8 + zlibBound)
}

// recorderGeometry is the geometry of each histogram of a
// loadgen.Recorder, in encodedHist's field order: the bound on what an
// agent may send, since an agent runs the same recorders.
var recorderGeometry = sync.OnceValue(func() [5]geometry {
	r := loadgen.NewRecorder()
	var g [5]geometry
	for i, h := range []*hdrhistogram.Histogram{r.Latency, r.Service, r.SendDelay, r.GapIntended, r.GapActual} {
		g[i] = geometry{lowest: h.LowestTrackableValue(), highest: h.HighestTrackableValue(), sigFigs: h.SignificantFigures(),
			countsLen: len(h.Export().Counts)}
	}
	return g
})

// histNames are encodedHist's fields as the protocol names them.
var histNames = [5]string{"latency", "service", "send_delay", "gap_intended", "gap_actual"}

// decodeRecorder is encodeRecorder's inverse. Each histogram's geometry is
// read and bounded (decodeHist) before anything is allocated for it.
// Errors wrap ErrProtocol and ErrHistogram and name the histogram.
func decodeRecorder(e encodedHist) (*loadgen.Recorder, error) {
	r := &loadgen.Recorder{}
	geo := recorderGeometry()
	for i, f := range []struct {
		in  string
		out **hdrhistogram.Histogram
	}{{e.Latency, &r.Latency}, {e.Service, &r.Service}, {e.SendDelay, &r.SendDelay}, {e.GapIntended, &r.GapIntended}, {e.GapActual, &r.GapActual}} {
		h, err := decodeHist(f.in, geo[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %w: histogram %s: %v", ErrProtocol, ErrHistogram, histNames[i], err)
		}
		*f.out = h
	}
	return r, nil
}

// decodeHist decodes one histogram whose geometry must lie within ref's:
// its lowest trackable value at least ref's (and 1), its highest and its significant
// figures at most ref's (so its counts array is at most ref's), its
// payload at most what such an array encodes to. The text's length, then
// the geometry in its header, are checked before the histogram is decoded:
// a short message cannot make the coordinator allocate more than a
// recorder of its own.
func decodeHist(text string, ref geometry) (*hdrhistogram.Histogram, error) {
	if max := ref.maxEncoded(); len(text) > max {
		return nil, fmt.Errorf("%d bytes of text: more than the %d its geometry can encode to", len(text), max)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, err
	}
	if len(raw) < 8 {
		return nil, fmt.Errorf("%d bytes: too short for its envelope", len(raw))
	}
	if c := int32(binary.BigEndian.Uint32(raw[0:4])) &^ 0xf0; c != hdrhistogram.V2CompressedEncodingCookieBase {
		return nil, fmt.Errorf("cookie %#x: want the compressed V2 encoding (%#x)", c, hdrhistogram.V2CompressedEncodingCookieBase)
	}
	clen := int64(int32(binary.BigEndian.Uint32(raw[4:8])))
	if clen < 0 || clen > int64(len(raw)-8) {
		return nil, fmt.Errorf("compressed length %d: want 0 to the %d bytes there", clen, len(raw)-8)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw[8 : 8+clen]))
	if err != nil {
		return nil, err
	}
	var hdr [40]byte
	_, err = io.ReadFull(zr, hdr[:])
	zr.Close()
	if err != nil {
		return nil, fmt.Errorf("header: %v", err)
	}
	var (
		cookie  = int32(binary.BigEndian.Uint32(hdr[0:4])) &^ 0xf0
		payload = int64(int32(binary.BigEndian.Uint32(hdr[4:8])))
		sig     = int64(int32(binary.BigEndian.Uint32(hdr[12:16])))
		lowest  = int64(binary.BigEndian.Uint64(hdr[16:24]))
		highest = int64(binary.BigEndian.Uint64(hdr[24:32]))
	)
	switch {
	case cookie != hdrhistogram.V2EncodingCookieBase:
		return nil, fmt.Errorf("header cookie %#x: want V2's (%#x)", cookie, hdrhistogram.V2EncodingCookieBase)
	case lowest < max(ref.lowest, 1) || lowest > ref.highest/2:
		return nil, fmt.Errorf("lowest trackable value %d: want %d (ukbench's recorders' lowest) to %d", lowest, max(ref.lowest, 1), ref.highest/2)
	case highest < 2*lowest || highest > ref.highest:
		return nil, fmt.Errorf("highest trackable value %d: want %d (twice the lowest) to %d (ukbench's recorders' highest)", highest, 2*lowest, ref.highest)
	case sig < 1 || sig > ref.sigFigs:
		return nil, fmt.Errorf("%d significant figures: want 1 to %d (ukbench's recorders')", sig, ref.sigFigs)
	case payload < 0 || payload > 9*int64(ref.countsLen):
		return nil, fmt.Errorf("payload of %d bytes: want 0 to %d (%d counts)", payload, 9*ref.countsLen, ref.countsLen)
	}
	return hdrhistogram.Decode([]byte(text))
}
