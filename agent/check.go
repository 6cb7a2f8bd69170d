package agent

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// An agent's result is believed only once it is checked (checkPart),
// before anything of it is merged: a lying or broken agent makes its step
// invalid, naming it, and adds nothing.

// maxCountKinds bounds the error kinds and answer codes of an agent's
// step: HTTP has about 500 statuses (each a code, and an error when not
// expected), DNS 16 rcodes, and a dozen other kinds.
const maxCountKinds = 2048

// offeredSlack is the relative difference allowed between the rate an
// agent was asked for and the one its record gives (a JSON round trip
// keeps a float64 exactly).
const offeredSlack = 1e-9

// checkPart checks an agent's result for spec before it is merged: its
// step as a share of the schedule (results.CheckShare, with one extra send
// either way per lane it ran); its rate and window those it was asked for
// (p.rate, spec.Duration), so its sends are held to its own share; its
// histograms' counts those of the answers and sends they describe (the
// latency and service histograms one sample per answer, the send delay one
// per measured send that did not wait for a connection or ID, the two gap
// histograms alike and at most that); its percentiles those of its
// histograms. The error wraps results.ErrImplausible.
func checkPart(spec loadgen.StepSpec, p part) error {
	s := p.res.Step
	if d := spec.Duration.Seconds(); s.DurationS != d {
		return fmt.Errorf("%w: duration_s %v: the step's window is %v s", results.ErrImplausible, s.DurationS, d)
	}
	if !(math.Abs(s.OfferedRPS-p.rate) <= offeredSlack*p.rate) {
		return fmt.Errorf("%w: offered_rps %v: it was asked for %v/s", results.ErrImplausible, s.OfferedRPS, p.rate)
	}
	if err := results.CheckShare(s, p.lanes); err != nil {
		return err
	}
	if n := len(s.Errors) + len(s.Codes); n > maxCountKinds {
		return fmt.Errorf("%w: %d error kinds and codes: more than %d", results.ErrImplausible, n, maxCountKinds)
	}
	if p.rec == nil {
		return fmt.Errorf("%w: no histograms", results.ErrImplausible)
	}
	measured := s.Sent - s.Lag.Blocked // CheckShare: Blocked ≤ Sent
	gaps := p.rec.GapIntended.TotalCount()
	for _, c := range []struct {
		name string
		got  int64
		want uint64
		what string
	}{
		{"latency", p.rec.Latency.TotalCount(), s.Answered, "answers"},
		{"service", p.rec.Service.TotalCount(), s.Answered, "answers"},
		{"send_delay", p.rec.SendDelay.TotalCount(), measured, "sends that did not wait (sent − blocked)"},
		{"gap_actual", p.rec.GapActual.TotalCount(), uint64(max(gaps, 0)), "intended gaps"},
	} {
		if c.got < 0 || uint64(c.got) != c.want {
			return fmt.Errorf("%w: histogram %s holds %d samples against %d %s", results.ErrImplausible, c.name, c.got, c.want, c.what)
		}
	}
	if gaps < 0 || uint64(gaps) > measured {
		return fmt.Errorf("%w: histogram gap_intended holds %d gaps against %d sends that did not wait", results.ErrImplausible, gaps, measured)
	}
	for _, l := range []struct {
		name       string
		got, fromH results.Latency
	}{
		{"latency_us", s.LatencyUS, loadgen.Summarize(p.rec.Latency)},
		{"service_us", s.ServiceUS, loadgen.Summarize(p.rec.Service)},
		{"send_delay_us", s.SendDelayUS, loadgen.Summarize(p.rec.SendDelay)},
	} {
		if !sameLatency(l.got, l.fromH) {
			return fmt.Errorf("%w: %s %+v: its histogram gives %+v", results.ErrImplausible, l.name, l.got, l.fromH)
		}
	}
	return nil
}

// sameLatency compares percentiles read from the same histogram on two
// hosts: equal, the mean within float rounding.
func sameLatency(a, b results.Latency) bool {
	return a.P50 == b.P50 && a.P90 == b.P90 && a.P99 == b.P99 && a.P999 == b.P999 && a.Max == b.Max &&
		math.Abs(a.Mean-b.Mean) <= 1e-9*max(math.Abs(a.Mean), math.Abs(b.Mean), 1)
}

// Bounds of an agent's hello, which reaches the run record (AgentInfo).
const (
	maxHostName = 255  // bytes; Linux allows 64
	maxCPUList  = 4096 // bytes of a CPU list ("0-3,8")
	maxNumCPU   = 1 << 16
)

// checkHello checks what an agent says of itself before it goes into a
// record: its binary's SHA-256 (64 hex digits), its host name and CPU
// list (UTF-8, bounded), its CPU count. Errors wrap ErrProtocol.
func checkHello(h hello) error {
	switch {
	case len(h.SHA256) != 64 || !isHex(h.SHA256):
		return fmt.Errorf("%w: hello: sha256 %.80q: want 64 hex digits", ErrProtocol, h.SHA256)
	case len(h.Host) > maxHostName || !utf8.ValidString(h.Host):
		return fmt.Errorf("%w: hello: host %.80q: want a host name of at most %d bytes", ErrProtocol, h.Host, maxHostName)
	case len(h.CPUs) > maxCPUList || !utf8.ValidString(h.CPUs):
		return fmt.Errorf("%w: hello: cpus %.80q: want a CPU list of at most %d bytes", ErrProtocol, h.CPUs, maxCPUList)
	case h.NumCPU < 0 || h.NumCPU > maxNumCPU:
		return fmt.Errorf("%w: hello: num_cpu %d: want 0 to %d", ErrProtocol, h.NumCPU, maxNumCPU)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkReady checks an agent's generator settings and timer probe before
// they go into a record (results.CheckLoadInfo, results.CheckTimerNoise).
func checkReady(r ready) error {
	if err := results.CheckLoadInfo(r.Load); err != nil {
		return fmt.Errorf("ready: load: %w", err)
	}
	if r.TimerNoise != nil {
		if err := results.CheckTimerNoise(*r.TimerNoise); err != nil {
			return fmt.Errorf("ready: timer_noise: %w", err)
		}
	}
	return nil
}
