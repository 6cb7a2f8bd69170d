package results

import (
	"fmt"
	"strings"
)

// Writable readies r to be written so that it reads back believed
// (CheckRun passes on it), and makes what was implausible in it visible.
// JSON holds no NaN or infinity: each such float is set to 0. A step that
// held one, or that fails its check (CheckStep; its agents' records as
// CheckRun checks them), keeps its rate, window and phase, and nothing
// else of what it measured: it is invalid and not sustainable, and its
// reasons say what was wrong. A step whose rate or window is itself not
// plausible is left out, and so is a boot, memory, timer or load section
// that fails its check; the run's maximum sustainable rate is taken again
// from the steps left sustainable when its step was one of those. The
// other steps are written as they were. When anything was found, r.Error
// says so (appended to what it says) and the error returned, wrapping
// ErrImplausible, says the same for the caller to show; nil when r is
// plausible.
//
// It is the last thing every writer of a run record does before encoding
// it (runs.jsonl, `ukbench load --out`), so that one bad value cannot fail
// the write, or the read, and lose the record's other steps.
func Writable(r *Run) error {
	var found []string
	lanes := agentLanes(r.Load)
	demoted := false
	kept := r.Steps[:0]
	for i, s := range r.Steps {
		var why []string
		for _, p := range zeroNonFinite(&s) {
			why = append(why, p+": not finite (written as 0)")
		}
		if err := checkStep(s, float64(len(s.Agents))); err != nil {
			why = append(why, err.Error())
		}
		for j, a := range s.Agents {
			if err := checkAgentStep(a, lanes); err != nil {
				why = append(why, fmt.Sprintf("agents[%d].%v", j, err))
			}
		}
		for _, w := range why {
			found = append(found, fmt.Sprintf("steps[%d].%s", i, w))
		}
		if len(why) == 0 {
			kept = append(kept, s)
			continue
		}
		demoted = demoted || s.Sustainable
		reason := JoinReasons(s.InvalidReason, "implausible record: "+strings.Join(why, "; "))
		s = Step{OfferedRPS: s.OfferedRPS, DurationS: s.DurationS, Phase: s.Phase,
			InvalidReason: reason, NotSustainableReason: "invalid: " + reason}
		if checkStep(s, noSchedule) != nil {
			found = append(found, fmt.Sprintf("steps[%d]: left out (its rate or window is not one)", i))
			continue
		}
		kept = append(kept, s)
	}
	r.Steps = kept
	for _, p := range zeroNonFinite(r) {
		found = append(found, p+": not finite (written as 0)")
	}
	if r.Boot != nil && checkBoot(*r.Boot) != nil {
		found = append(found, "boot: "+checkBoot(*r.Boot).Error()+" (left out)")
		r.Boot = nil
	}
	if r.Memory != nil && checkMemory(*r.Memory) != nil {
		found = append(found, "memory: "+checkMemory(*r.Memory).Error()+" (left out)")
		r.Memory = nil
	}
	if r.TimerNoise != nil && checkTimerNoise(*r.TimerNoise) != nil {
		found = append(found, "timer_noise: "+checkTimerNoise(*r.TimerNoise).Error()+" (left out)")
		r.TimerNoise = nil
	}
	if r.Load != nil && checkLoadInfo(*r.Load) != nil {
		found = append(found, "load: "+checkLoadInfo(*r.Load).Error()+" (left out)")
		r.Load = nil
	}
	if demoted || r.MaxSustainableRPS < 0 {
		r.MaxSustainableRPS = 0
		for _, s := range r.Steps {
			if s.Sustainable {
				r.MaxSustainableRPS = max(r.MaxSustainableRPS, s.OfferedRPS)
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	msg := "record checked before writing: " + strings.Join(found, "; ")
	r.Error = JoinReasons(r.Error, msg)
	return fmt.Errorf("%w: %s", ErrImplausible, msg)
}

// JoinReasons appends reason b to reason a ("a; b"; b alone when a is
// empty), as a record's reasons and errors accumulate.
func JoinReasons(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// agentLanes maps each agent of l to its lanes (the first record of an
// agent named twice).
func agentLanes(l *LoadInfo) map[string]int {
	lanes := map[string]int{}
	if l == nil {
		return lanes
	}
	for _, a := range l.Agents {
		if _, ok := lanes[a.Agent]; !ok {
			lanes[a.Agent] = a.Lanes
		}
	}
	return lanes
}

// ZeroNonFinite sets every float of s that is NaN or infinite (JSON holds
// neither) to 0, its agents' records included, and returns their paths.
func (s *Step) ZeroNonFinite() []string { return zeroNonFinite(s) }
