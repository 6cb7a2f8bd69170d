package agent

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/report"
	"github.com/ukbench/ukbench/results"
)

// honestShare is an agent's plausible share of a step at rate over d: n
// answered sends whose histograms agree with its record.
func honestShare(rate float64, d time.Duration) (results.Step, *loadgen.Recorder) {
	n := int(rate * d.Seconds())
	r := loadgen.NewRecorder()
	for range n {
		r.Latency.RecordValue(300)
		r.Service.RecordValue(250)
		r.SendDelay.RecordValue(4)
		r.GapIntended.RecordValue(int64(time.Second) / int64(rate))
		r.GapActual.RecordValue(int64(time.Second) / int64(rate))
	}
	return plausibleShare(rate, d, r), r
}

// The lies of issue 24, each told by agent "liar" beside an honest agent
// "honest": the merged step is invalid, its reason names the liar and what
// was wrong, the liar's numbers are not added (the merged counts are the
// honest agent's), the liar's record keeps only why it was refused, and
// the merged step is plausible and can be written.
func TestLyingAgentRefused(t *testing.T) {
	spec := loadgen.StepSpec{Rate: 1000, Duration: time.Second}
	for _, tc := range []struct {
		name string
		lie  func(s *results.Step, r **loadgen.Recorder)
		why  string
	}{
		{"sent = answered = 10^15 at 500/s", func(s *results.Step, _ **loadgen.Recorder) {
			s.Sent, s.Answered, s.Lag.SentInWindow, s.AchievedRPS = 1e15, 1e15, 1e15, 1e15
		}, "sent"},
		{"achieved −5,000/s", func(s *results.Step, _ **loadgen.Recorder) { s.AchievedRPS = -5000 }, "achieved_rps"},
		{"answered 500 with empty histograms", func(_ *results.Step, r **loadgen.Recorder) { *r = loadgen.NewRecorder() },
			"histogram latency holds 0 samples against 500 answers"},
		{"3 samples against 500 answers", func(_ *results.Step, r **loadgen.Recorder) {
			few := loadgen.NewRecorder()
			for range 3 {
				few.Latency.RecordValue(300)
			}
			(*r).Latency = few.Latency
		}, "histogram latency holds 3 samples against 500 answers"},
		{"achieved 1.7e308/s", func(s *results.Step, _ **loadgen.Recorder) { s.AchievedRPS = 1.7e308 }, "achieved_rps"},
		{"another rate than asked", func(s *results.Step, _ **loadgen.Recorder) { s.OfferedRPS = 5e6 }, "offered_rps"},
		{"percentiles not its histogram's", func(s *results.Step, _ **loadgen.Recorder) {
			s.LatencyUS.P99, s.LatencyUS.P999, s.LatencyUS.Max = 9e7, 9e7, 9e7
		},
			"latency_us"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, hr := honestShare(500, spec.Duration)
			ls, lr := honestShare(500, spec.Duration)
			tc.lie(&ls, &lr)
			parts := []part{
				{name: "honest", rate: 500, lanes: 1, res: result{Step: hs}, rec: hr},
				{name: "liar", rate: 500, lanes: 1, res: result{Step: ls}, rec: lr},
			}
			o := merge(spec, loadgen.Limits{}, parts)
			s := o.Step
			if s.Valid || !strings.Contains(s.InvalidReason, "agent liar's result refused") || !strings.Contains(s.InvalidReason, tc.why) {
				t.Errorf("valid=%v reason %q: want invalid, naming agent liar and %q", s.Valid, s.InvalidReason, tc.why)
			}
			if strings.Contains(s.InvalidReason, "agent honest") {
				t.Errorf("reason %q names the honest agent", s.InvalidReason)
			}
			if s.Sent != hs.Sent || s.Answered != hs.Answered || s.AchievedRPS != hs.AchievedRPS || o.Hist.Latency.TotalCount() != int64(hs.Answered) {
				t.Errorf("merged sent %d answered %d achieved %v (%d latency samples): want the honest agent's alone (%d, %d, %v)",
					s.Sent, s.Answered, s.AchievedRPS, o.Hist.Latency.TotalCount(), hs.Sent, hs.Answered, hs.AchievedRPS)
			}
			if l := s.Agents[1]; l.Error == "" || l.Sent != 0 || l.AchievedRPS != 0 {
				t.Errorf("liar's record %+v: want only why it was refused", l)
			}
			if err := results.CheckShare(s, len(parts)); err != nil {
				t.Errorf("merged step refused: %v", err)
			}
		})
	}
}

// Two agents each claiming 1.7e308/s merged to +Inf, which the step table
// printed and the record's encoding refused, losing every step: now both
// are refused, the merged rate is finite, and neither the table nor the
// record shows +Inf.
func TestAgentsClaimingHugeRatesNeverMakeInf(t *testing.T) {
	spec := loadgen.StepSpec{Rate: 1000, Duration: time.Second}
	var parts []part
	for _, name := range []string{"a1", "a2"} {
		s, r := honestShare(500, spec.Duration)
		s.AchievedRPS = 1.7e308
		parts = append(parts, part{name: name, rate: 500, lanes: 1, res: result{Step: s}, rec: r})
	}
	s := merge(spec, loadgen.Limits{}, parts).Step
	if math.IsInf(s.AchievedRPS, 0) || math.IsNaN(s.AchievedRPS) || s.AchievedRPS > spec.Rate {
		t.Errorf("merged achieved %v/s, want a finite rate within the offered", s.AchievedRPS)
	}
	for _, name := range []string{"a1", "a2"} {
		if !strings.Contains(s.InvalidReason, "agent "+name+"'s result refused") {
			t.Errorf("reason %q: want agent %s refused", s.InvalidReason, name)
		}
	}
	var table bytes.Buffer
	report.NewStepTable(&table).Row(s)
	if strings.Contains(table.String(), "Inf") {
		t.Errorf("step table prints %q", table.String())
	}
	rec := results.Run{Target: "t", Workload: "dns", Steps: []results.Step{s}}
	if _, err := json.Marshal(rec); err != nil {
		t.Errorf("the record cannot be written: %v", err)
	}
}

// A lying agent over the real protocol: its result is rewritten on the
// way (as a lying or broken agent would send it), and the step it made
// with an honest agent is invalid, naming it.
func TestLyingAgentOverTheWire(t *testing.T) {
	addr := startDNS(t)
	liar := &lyingLauncher{lie: func(res *result) {
		res.Step.Answered += 5
		res.Step.Sent += 5
	}}
	r, err := New(context.Background(), Config{DNS: dnsConfig(addr), Agents: []Spec{{Name: "honest", Launcher: &pipeLauncher{}}, {Name: "liar", Launcher: liar}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o, err := r.RunStep(context.Background(), loadgen.StepSpec{Rate: 400, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := o.Step
	if s.Valid || !strings.Contains(s.InvalidReason, "agent liar's result refused") || !strings.Contains(s.InvalidReason, "histogram latency holds") {
		t.Errorf("valid=%v reason %q: want invalid, naming agent liar and its histogram", s.Valid, s.InvalidReason)
	}
	if h := s.Agents[0]; h.Error != "" || s.Sent != h.Sent || s.Answered != h.Answered {
		t.Errorf("merged sent %d answered %d, honest agent %+v: want the honest agent's alone", s.Sent, s.Answered, h)
	}
}

// lyingLauncher runs in-process agents whose results lie rewrites on
// their way to the coordinator.
type lyingLauncher struct {
	pipeLauncher
	lie func(*result)
}

func (l *lyingLauncher) Launch(ctx context.Context) (Launched, error) {
	c, err := l.pipeLauncher.Launch(ctx)
	if err != nil {
		return c, err
	}
	agent := c.Conn
	mr, mw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(agent)
		sc.Buffer(nil, maxMessage)
		for sc.Scan() {
			line := sc.Bytes()
			var m message
			if json.Unmarshal(line, &m) == nil && m.Type == typeResult && m.Result != nil {
				l.lie(m.Result)
				line, _ = json.Marshal(m)
			}
			if _, err := mw.Write(append(line, '\n')); err != nil {
				return
			}
		}
		mw.Close()
	}()
	c.Conn = readSwapConn{ReadWriteCloser: agent, r: mr}
	return c, nil
}

type readSwapConn struct {
	io.ReadWriteCloser
	r *io.PipeReader
}

func (c readSwapConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c readSwapConn) Close() error               { c.r.Close(); return c.ReadWriteCloser.Close() }

// hugeHist is a histogram in the compressed V2 encoding whose header
// claims lowest..highest at sig significant figures, with n counts spread
// over its first few million (about 7 bytes each, hardly compressible).
func hugeHist(lowest, highest int64, sig int32, n int) string {
	var payload bytes.Buffer
	var vb [binary.MaxVarintLen64]byte
	x := uint64(88172645463325252) // xorshift: counts and gaps that zlib cannot fold
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		payload.Write(vb[:binary.PutVarint(vb[:], int64(1+x%1_000_000))])      // a count (zig-zag LEB128)
		payload.Write(vb[:binary.PutVarint(vb[:], -int64(1000+(x>>20)%2000))]) // a run of empty counts
	}
	var raw bytes.Buffer
	binary.Write(&raw, binary.BigEndian, hdrhistogram.V2EncodingCookieBase|0x10)
	binary.Write(&raw, binary.BigEndian, int32(payload.Len()))
	binary.Write(&raw, binary.BigEndian, int32(0))
	binary.Write(&raw, binary.BigEndian, sig)
	binary.Write(&raw, binary.BigEndian, lowest)
	binary.Write(&raw, binary.BigEndian, highest)
	binary.Write(&raw, binary.BigEndian, 1.0)
	raw.Write(payload.Bytes())
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	var env bytes.Buffer
	binary.Write(&env, binary.BigEndian, hdrhistogram.V2CompressedEncodingCookieBase|0x10)
	binary.Write(&env, binary.BigEndian, int32(z.Len()))
	env.Write(z.Bytes())
	return base64.StdEncoding.EncodeToString(env.Bytes())
}

// A ~50 KB result whose histograms claim a huge geometry (1 to 2^62 at
// 5 significant figures: 6 million counts, 48 MB each, and as long to
// merge) is refused before any of it is allocated: the whole message,
// from its bytes to the refusal, costs the coordinator a few hundred KB.
func TestHugeHistogramGeometryRefusedInBoundedMemory(t *testing.T) {
	h := hugeHist(1, 1<<62, 5, 1500)
	m := message{Type: typeResult, Result: &result{Step: results.Step{OfferedRPS: 500, DurationS: 1},
		Hist: encodedHist{Latency: h, Service: h, SendDelay: h, GapIntended: h, GapActual: h}}}
	line, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(line) < 40_000 || len(line) > 60_000 {
		t.Fatalf("message of %d bytes, want about 50 KB", len(line))
	}
	line = append(line, '\n')
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := newWire(bytes.NewReader(line), io.Discard)
	got, err := w.recv()
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeRecorder(got.Result.Hist)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrHistogram) || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "highest trackable value") {
		t.Errorf("decode: %v, want ErrHistogram naming the highest trackable value", err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("refusing a %d-byte message allocated %d bytes", len(line), alloc)
	if alloc > 4<<20 {
		t.Errorf("refusing it allocated %d bytes, want under 4 MiB", alloc)
	}
}

// Every geometry bound of decodeHist refuses what lies beyond it, and a
// histogram of the recorders' own geometry decodes.
func TestDecodeHistBounds(t *testing.T) {
	ref := recorderGeometry()[0] // latency: 1 to 1e8 µs at 3 figures
	for _, tc := range []struct {
		name            string
		lowest, highest int64
		sig             int32
		want            string
	}{
		{"highest beyond the recorders'", 1, ref.highest * 10, 3, "highest trackable value"},
		{"more figures", 1, ref.highest, 4, "significant figures"},
		{"lowest 0", 0, ref.highest, 3, "lowest trackable value"},
		{"highest below twice the lowest", 1000, 1500, 3, "highest trackable value"},
	} {
		if _, err := decodeHist(hugeHist(tc.lowest, tc.highest, tc.sig, 1), ref); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming the %s", tc.name, err, tc.want)
		}
	}
	// A lowest below a recorder's would make more counts than a
	// recorder's: refused, for a geometry whose lowest is over 1.
	coarse := geometry{lowest: 1000, highest: ref.highest, sigFigs: ref.sigFigs, countsLen: ref.countsLen}
	if _, err := decodeHist(hugeHist(1, ref.highest, int32(ref.sigFigs), 1), coarse); err == nil || !strings.Contains(err.Error(), "want 1000 (ukbench's recorders' lowest)") {
		t.Errorf("lowest 1 against a recorder's 1000: %v, want refused", err)
	}
	if _, err := decodeHist(strings.Repeat("A", ref.maxEncoded()+4), ref); err == nil || !strings.Contains(err.Error(), "bytes of text") {
		t.Errorf("over-long text: %v, want refused by its length", err)
	}
	h := hdrhistogram.New(ref.lowest, ref.highest, int(ref.sigFigs))
	h.RecordValue(1234)
	b, _ := h.Encode(histEncoding)
	if d, err := decodeHist(string(b), ref); err != nil || !d.Equals(h) {
		t.Errorf("a recorder's own histogram: %v", err)
	}
}

// The fullest histograms a recorder can hold (every count set, each large
// and distinct) encode within decodeHist's bound, and a result of five of
// them within half of maxMessage.
func TestFullestRecorderFitsTheBounds(t *testing.T) {
	geo := recorderGeometry()
	total := 0
	for i, g := range geo {
		snap := hdrhistogram.New(g.lowest, g.highest, int(g.sigFigs)).Export()
		for j := range snap.Counts {
			snap.Counts[j] = int64(1)<<40 + int64(j)*7919
		}
		h := hdrhistogram.Import(snap)
		b, err := h.Encode(histEncoding)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > g.maxEncoded() {
			t.Errorf("histogram %s: encodes to %d bytes, more than its bound %d", histNames[i], len(b), g.maxEncoded())
		}
		if _, err := decodeHist(string(b), g); err != nil {
			t.Errorf("histogram %s: %v", histNames[i], err)
		}
		total += len(b)
	}
	if total > maxMessage/2 {
		t.Errorf("a result's fullest histograms take %d bytes, more than half of maxMessage (%d)", total, maxMessage)
	}
}

// results.MaxLatencyUS bounds what a recorder's latency histogram can
// give: the top of its highest bucket.
func TestMaxLatencyCoversTheRecorders(t *testing.T) {
	r := loadgen.NewRecorder()
	for _, h := range []*hdrhistogram.Histogram{r.Latency, r.Service, r.SendDelay} {
		h.RecordValue(h.HighestTrackableValue())
		if got := loadgen.Summarize(h).Max; got > results.MaxLatencyUS || got < float64(h.HighestTrackableValue()) {
			t.Errorf("a recorder's largest latency reads %v µs, results.MaxLatencyUS is %v", got, results.MaxLatencyUS)
		}
	}
}

// What an agent says of itself and of its generator is checked before it
// goes into a record.
func TestHelloAndReadyChecked(t *testing.T) {
	good := hello{Version: Version, SHA256: strings.Repeat("ab", 32), Host: "h", NumCPU: 4}
	if err := checkHello(good); err != nil {
		t.Errorf("a plain hello: %v", err)
	}
	for _, bad := range []func(*hello){
		func(h *hello) { h.SHA256 = "xyz" },
		func(h *hello) { h.Host = strings.Repeat("h", 300) },
		func(h *hello) { h.NumCPU = -1 },
		func(h *hello) { h.CPUs = "\xff" },
	} {
		h := good
		bad(&h)
		if err := checkHello(h); !errors.Is(err, ErrProtocol) {
			t.Errorf("hello %+v: %v, want ErrProtocol", h, err)
		}
	}
	if err := checkReady(ready{Load: results.LoadInfo{TimeoutMS: -5}}); !errors.Is(err, results.ErrImplausible) || !strings.Contains(err.Error(), "timeout_ms") {
		t.Errorf("ready with a negative timeout: %v, want it refused naming timeout_ms", err)
	}
	if err := checkReady(ready{TimerNoise: &results.TimerNoise{LateUS: results.Latency{P50: 9, P90: 1}}}); !errors.Is(err, results.ErrImplausible) {
		t.Errorf("ready with a timer probe out of order: %v, want it refused", err)
	}
}

// A line longer than maxMessage ends the wire with an error: it is never
// held whole.
func TestOverlongMessageRefused(t *testing.T) {
	w := newWire(io.MultiReader(strings.NewReader(`{"type":"result","error":"`), &zeros{n: maxMessage + 1}), io.Discard)
	if _, err := w.recv(); !errors.Is(err, bufio.ErrTooLong) {
		t.Errorf("recv: %v, want bufio.ErrTooLong", err)
	}
}

// zeros reads n bytes of 'a'.
type zeros struct {
	n  int
	mu sync.Mutex
}

func (z *zeros) Read(b []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(b), z.n)
	for i := range b[:k] {
		b[i] = 'a'
	}
	z.n -= k
	return k, nil
}
