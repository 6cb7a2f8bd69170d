package experiment

import (
	"errors"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/yamlstrict"
)

// FuzzConfig: an experiment file of any bytes is loaded (LoadBytes: parse,
// defaults, validation) or refused with a yamlstrict.ErrConfig that names
// the file, without a panic or an allocation that the bytes decide. A
// loaded config validates again, and its plan holds at most MaxRuns runs,
// each with its own key (--resume matches runs by key). The seeds are the
// shipped configs, the CLI's fixtures, and hostile ones (an alias bomb,
// deep nesting, a plan that multiplies past MaxRuns).
func FuzzConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "fuzz.yaml"
		c, err := LoadBytes(path, data)
		if err != nil {
			if !errors.Is(err, yamlstrict.ErrConfig) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadBytes = %v, want an ErrConfig naming %s", err, path)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a loaded config does not validate: %v", err)
		}
		plan := c.Plan()
		if len(plan) > MaxRuns {
			t.Fatalf("a loaded config plans %d runs, over MaxRuns", len(plan))
		}
		keys := map[RunKey]bool{}
		for _, pr := range plan {
			if keys[pr.Key] {
				t.Fatalf("the plan holds run %s twice", pr.Key)
			}
			keys[pr.Key] = true
		}
	})
}
