package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// FuzzAgentMessage feeds bytes to the coordinator as an agent's stdout:
// each line is read as the coordinator reads it (wire.recv), a hello and
// a ready are checked as a launch checks them, and a result is decoded
// and merged, as two agents' shares, as a step merges it. Whatever the
// bytes, nothing panics, nothing that is not finite reaches the merged
// step (its record encodes), a result checkPart refuses adds nothing, and
// one it accepts is added whole. Seeds are real sessions of a load agent
// and a probe (hello, ready with a timer probe, pongs, results, bye) and
// the lies of issue 24.
func FuzzAgentMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWire(bytes.NewReader(data), io.Discard)
		for range 64 {
			m, err := w.recv()
			if err != nil {
				if errors.Is(err, ErrProtocol) {
					continue // a line that is no message: the next is read
				}
				return
			}
			switch {
			case m.Type == typeHello && m.Hello != nil:
				checkHello(*m.Hello)
			case m.Type == typeReady && m.Ready != nil:
				if checkReady(*m.Ready) == nil {
					info := results.Run{Target: "t", Workload: "dns", Load: &m.Ready.Load, TimerNoise: m.Ready.TimerNoise}
					if _, err := json.Marshal(info); err != nil {
						t.Fatalf("a ready that passed its check cannot be recorded: %v", err)
					}
				}
			case m.Type == typeResult && m.Result != nil:
				mergeFuzzedResult(t, *m.Result)
			}
		}
	})
}

// mergeFuzzedResult merges res as the shares of two agents asked for
// the rate and window it claims (so that its other claims are what is
// checked).
func mergeFuzzedResult(t *testing.T, res result) {
	rec, derr := decodeRecorder(res.Hist)
	if derr != nil && !errors.Is(derr, ErrProtocol) {
		t.Fatalf("decode error %v does not wrap ErrProtocol", derr)
	}
	rate, d := res.Step.OfferedRPS, time.Duration(res.Step.DurationS*1e9)
	if !(rate > 0 && rate < 1e12) || d < time.Millisecond || d > time.Hour {
		rate, d = 500, time.Second
	}
	spec := loadgen.StepSpec{Rate: 2 * rate, Duration: d}
	var parts []part
	for _, name := range []string{"a1", "a2"} {
		parts = append(parts, part{name: name, rate: rate, lanes: 2, at: 1, res: res, rec: rec, err: derr})
	}
	accepted := derr == nil && checkPart(spec, parts[0]) == nil
	o := merge(spec, loadgen.Limits{}, parts)
	s := o.Step
	if _, err := json.Marshal(s); err != nil {
		t.Fatalf("the merged step cannot be recorded: %v", err)
	}
	if math.IsInf(s.AchievedRPS, 0) || math.IsNaN(s.AchievedRPS) {
		t.Fatalf("merged achieved %v", s.AchievedRPS)
	}
	if s.Valid {
		if err := results.CheckShare(s, len(parts)); err != nil {
			t.Fatalf("a valid merged step fails its check: %v", err)
		}
	}
	if !accepted {
		if s.Sent != 0 || s.Answered != 0 || o.Hist.Latency.TotalCount() != 0 || s.Valid {
			t.Fatalf("a refused result was added: sent %d answered %d valid %v", s.Sent, s.Answered, s.Valid)
		}
		return
	}
	if s.Sent != 2*res.Step.Sent || s.Answered != 2*res.Step.Answered || o.Hist.Latency.TotalCount() != 2*int64(res.Step.Answered) {
		t.Fatalf("an accepted result was not added whole: merged sent %d answered %d, each %d %d", s.Sent, s.Answered, res.Step.Sent, res.Step.Answered)
	}
}

// FuzzAgentHistogram decodes bytes as one of an agent's histograms (the
// bytes base64-encoded, as they travel, and the bytes as the text itself)
// against the geometry of the recorder histogram which selects. Whatever
// the bytes, nothing panics and no histogram beyond that geometry is
// decoded; one that decodes re-encodes to an equal one, and reads finite
// percentiles. Seeds are a real step's five histograms, empty ones, and
// the ~50 KB huge-geometry histogram of issue 24.
func FuzzAgentHistogram(f *testing.F) {
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		g := recorderGeometry()[int(which)%len(histNames)]
		for _, text := range []string{base64.StdEncoding.EncodeToString(raw), string(raw)} {
			h, err := decodeHist(text, g)
			if err != nil {
				continue
			}
			if h.LowestTrackableValue() < 1 || h.HighestTrackableValue() > g.highest || h.SignificantFigures() > g.sigFigs ||
				h.TotalCount() < 0 || len(h.Export().Counts) > g.countsLen {
				t.Fatalf("decoded %d..%d at %d figures (%d counts, total %d): beyond %+v",
					h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), len(h.Export().Counts), h.TotalCount(), g)
			}
			b, err := h.Encode(histEncoding)
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeHist(string(b), g)
			if err != nil || !again.Equals(h) {
				t.Fatalf("re-encoded histogram: %v", err)
			}
			l := loadgen.Summarize(h)
			for _, v := range []float64{l.P50, l.P99, l.Max, l.Mean} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("percentiles %+v", l)
				}
			}
		}
	})
}

// The real sessions among FuzzAgentMessage's seeds pass every check: a
// launch's (hello, ready) and a step's (each result, as merged).
func TestRealAgentMessagesAccepted(t *testing.T) {
	for _, name := range []string{"session-load-agent", "session-probe-agent-timer-probe"} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzAgentMessage", name))
		if err != nil {
			t.Fatal(err)
		}
		_, quoted, _ := strings.Cut(string(b), "[]byte(")
		data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(quoted), ")"))
		if err != nil {
			t.Fatal(err)
		}
		w := newWire(strings.NewReader(data), io.Discard)
		results := 0
		for {
			m, err := w.recv()
			if err != nil {
				break
			}
			switch m.Type {
			case typeHello:
				err = checkHello(*m.Hello)
			case typeReady:
				err = checkReady(*m.Ready)
			case typeResult:
				results++
				var rec *loadgen.Recorder
				if rec, err = decodeRecorder(m.Result.Hist); err == nil {
					s := m.Result.Step
					spec := loadgen.StepSpec{Rate: s.OfferedRPS, Duration: time.Duration(s.DurationS * 1e9)}
					err = checkPart(spec, part{rate: s.OfferedRPS, lanes: 1, res: *m.Result, rec: rec})
				}
			}
			if err != nil {
				t.Errorf("%s: %s refused: %v", name, m.Type, err)
			}
		}
		if results != 2 {
			t.Errorf("%s: %d results, want 2", name, results)
		}
	}
}
