package results

import (
	"fmt"
	"strings"
)

// Writable readies r to be written and makes what a reader would refuse in
// it visible, without dropping anything measured. JSON holds no NaN or
// infinity: each such float is set to 0. A step that held one, or that
// fails its check (CheckStep; its agents' records as CheckRun checks
// them), is made invalid and not sustainable, its reasons saying why.
// When anything was found, r.Error says so (appended to what it says) and
// the error returned, wrapping ErrImplausible, says the same for the
// caller to show; nil when r is plausible.
//
// It is the last thing every writer of a run record does before encoding
// it (runs.jsonl, `ukbench load --out`), so that one bad value cannot fail
// the write and lose the record's other steps.
func Writable(r *Run) error {
	var found []string
	lanes := agentLanes(r.Load)
	for i := range r.Steps {
		s := &r.Steps[i]
		var why []string
		for _, p := range zeroNonFinite(s) {
			why = append(why, p+": not finite (written as 0)")
		}
		if err := checkStep(*s, float64(len(s.Agents))); err != nil {
			why = append(why, err.Error())
		}
		for j, a := range s.Agents {
			if err := checkAgentStep(a, lanes); err != nil {
				why = append(why, fmt.Sprintf("agents[%d].%v", j, err))
			}
		}
		if len(why) == 0 {
			continue
		}
		reason := "implausible record: " + strings.Join(why, "; ")
		s.Valid, s.InvalidReason = false, joinReason(s.InvalidReason, reason)
		if s.Sustainable || s.NotSustainableReason == "" {
			s.NotSustainableReason = "invalid: " + s.InvalidReason
		}
		s.Sustainable = false
		for _, w := range why {
			found = append(found, fmt.Sprintf("steps[%d].%s", i, w))
		}
	}
	for _, p := range zeroNonFinite(r) {
		found = append(found, p+": not finite (written as 0)")
	}
	if err := checkRun(*r); err != nil && len(found) == 0 {
		found = append(found, err.Error())
	}
	if len(found) == 0 {
		return nil
	}
	msg := "record checked before writing: " + strings.Join(found, "; ")
	r.Error = joinReason(r.Error, msg)
	return fmt.Errorf("%w: %s", ErrImplausible, msg)
}

func joinReason(a, b string) string {
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
