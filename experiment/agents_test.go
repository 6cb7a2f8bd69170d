package experiment

import (
	"strings"
	"testing"
)

// load.agents is read, and its mistakes are refused with their field.
func TestLoadAgentsConfig(t *testing.T) {
	c, _, err := Load(writeConfig(t, goodConfig+"load:\n  agents:\n    - ssh: bench@gen1\n      cpus: 0-3\n    - ssh: gen2\n      weight: 2\n      role: probe\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Load.Agents; len(a) != 2 || a[0].SSH != "bench@gen1" || a[0].CPUs != "0-3" || a[1].Weight != 2 || a[1].Role != "probe" {
		t.Errorf("agents %+v", c.Load.Agents)
	}
	for _, tc := range []struct{ body, want string }{
		{"load:\n  agents:\n    - cpus: 0-3\n", "load.agents[0].ssh"},
		{"load:\n  agents:\n    - ssh: g\n      cpus: 3-1\n", "load.agents[0].cpus"},
		{"load:\n  agents:\n    - ssh: g\n      role: boss\n", "load.agents[0].role"},
		{"load:\n  agents:\n    - ssh: g\n      weight: -1\n", "load.agents[0].weight"},
	} {
		if _, _, err := Load(writeConfig(t, goodConfig+tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.body, err, tc.want)
		}
	}
}
