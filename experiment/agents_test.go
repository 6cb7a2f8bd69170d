package experiment

import (
	"strings"
	"testing"
)

// tapConfig is a guest target on vm.network tap with a routable address:
// what agents on other hosts can load.
const tapConfig = `name: t
vm:
  cpus: 1
  memory_mib: 256
  network: tap
  bridge: br0
  guest_ip: 10.77.0.2/24
  gateway: 10.77.0.1
targets:
  - name: a
    kind: linux
    app: dns
    kernel_package: linux-image-amd64
workloads:
  - kind: dns
    rates: 1000,2000
    step: 1s
`

// load.agents is read, and its mistakes are refused with their field.
func TestLoadAgentsConfig(t *testing.T) {
	c, _, err := Load(writeConfig(t, tapConfig+"load:\n  agents:\n    - ssh: bench@gen1\n      cpus: 0-3\n    - ssh: gen2\n      weight: 2\n      role: probe\n"))
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
		{"load:\n  agents:\n    - ssh: g\n      role: probe\n    - ssh: h\n      role: probe\n", "load.agents: every agent is a probe"},
	} {
		if _, _, err := Load(writeConfig(t, tapConfig+tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.body, err, tc.want)
		}
	}
}

// load.agents is refused when the agents would load their own loopback:
// native targets, and guests on user networking (127.0.0.1 forwards).
func TestLoadAgentsNeedReachableTargets(t *testing.T) {
	agents := "load:\n  agents:\n    - ssh: gen1\n"
	for _, tc := range []struct{ name, body, want string }{
		{"native", goodConfig + agents, "targets[0].kind"},
		{"user network", strings.Replace(tapConfig, "  network: tap\n  bridge: br0\n  guest_ip: 10.77.0.2/24\n  gateway: 10.77.0.1\n", "", 1) + agents, "vm.network"},
	} {
		_, _, err := Load(writeConfig(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "load.agents") {
			t.Errorf("%s: %v, want an error at %s naming load.agents", tc.name, err, tc.want)
		}
	}
	if !strings.Contains(tapConfig, "network: tap") {
		t.Fatal("tapConfig lost its tap network")
	}
}
