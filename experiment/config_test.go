package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/internal/yamlstrict"
)

const goodConfig = `name: t
repeats: 2
vm:
  cpus: 1
  memory_mib: 256
targets:
  - name: a
    kind: native
  - name: b
    kind: native
    app: http
workloads:
  - kind: dns
    rates: 1000,2000
    step: 1s
  - kind: http
    rates: 100:300:100
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "exp.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadGoodConfigFillsDefaults(t *testing.T) {
	c, _, err := Load(writeConfig(t, goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Workloads[0].Step.D() != time.Second || c.Workloads[1].Step.D() != 10*time.Second || c.Workloads[1].Warmup.D() != 2*time.Second {
		t.Errorf("durations: %+v", c.Workloads)
	}
	if c.Output != filepath.Join("ukbench-results", "t") || c.VM.Machine != "pc" || c.VM.Network != "user" {
		t.Errorf("defaults: output %q, vm %+v", c.Output, c.VM)
	}
}

// TestBadConfigs: each kind of mistake gives its own error, naming the
// file, the line and the field.
func TestBadConfigs(t *testing.T) {
	os.Unsetenv("UKBENCH_TEST_NO_SUCH_IMAGE")
	queries := filepath.Join(t.TempDir(), "queries.txt")
	os.WriteFile(queries, []byte("www.example.com A\nmail.example.com NOTATYPE\n"), 0o644)
	t.Setenv("UKBENCH_TEST_BAD_QUERIES", queries)
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"unknown key", "repeats: 2", "repeats: 2\nrepeat: 3", `:3: unknown field "repeat"`},
		{"wrong type", "repeats: 2", "repeats: two", `:2: repeats: want an integer, not "two"`},
		{"bad duration", "step: 1s", "step: soon", `:15: workloads[0].step: "soon": want a duration`},
		{"step too short to measure", "step: 1s", "step: 1ns", ":15: workloads[0].step: bad load configuration: step 1ns: want at least 100ms"},
		{"duration without unit", "step: 1s", "step: 10", `:15: workloads[0].step: "10": want a duration with its unit, such as 10s`},
		{"rates as a list", "rates: 1000,2000", "rates: [1000, 2000]", ":14: workloads[0].rates: want a single value, not a list"},
		{"unknown workload key", "step: 1s", "stepp: 1s", `:15: workloads[0]: unknown field "stepp"`},
		{"impossible repeats", "repeats: 2", "repeats: -1", ":2: repeats: -1: want 1 to 1000"},
		{"unknown kind", "kind: native\n    app: http", "kind: xen\n    app: http", ":10: targets[1].kind: \"xen\": want osv, linux or native"},
		{"bad app", "app: http", "app: gopher", ":11: targets[1].app"},
		{"per-target vm", "    app: http\n", "    app: http\n    vm:\n      cpus: 2\n", ":13: targets[1].vm: every guest shares"},
		{"per-target vm with a zero", "    app: http\n", "    app: http\n    vm:\n      cpus: 0\n", ":13: targets[1].vm: every guest shares"},
		{"duplicate name", "name: b", "name: a", ":9: targets[1].name: \"a\" is used twice"},
		{"bad rates", "rates: 1000,2000", "rates: fast", ":14: workloads[0].rates"},
		{"bad workload kind", "kind: dns", "kind: smtp", ":13: workloads[0].kind"},
		{"bad vm memory", "memory_mib: 256", "memory_mib: 8", ":5: vm.memory_mib: 8: want at least 32"},
		{"bad network", "memory_mib: 256", "memory_mib: 256\n  network: bridge", ":6: vm.network"},
		{"missing image", "kind: native\n    app: http", "kind: osv\n    app: http\n    image: ${UKBENCH_TEST_NO_SUCH_IMAGE}/usr.img", "targets[1].image"},
		{"negative loss", "step: 1s", "step: 1s\n    max_loss: 2", "workloads[0].max_loss: 2"},
		{"bad transport", "step: 1s", "step: 1s\n    transport: quic", `:16: workloads[0].transport: "quic": want udp or tcp`},
		{"bad body size", "rates: 100:300:100", "rates: 100:300:100\n    expect_body_size: -1", ":18: workloads[1].expect_body_size: -1: want a byte count above 0"},
		{"too many connections", "rates: 100:300:100", "rates: 100:300:100\n    connections: 5000", ":18: workloads[1].connections: 5000: want 1 to 4096"},
		{"too many threads", "rates: 100:300:100", "rates: 100:300:100\n    threads: 300", ":18: workloads[1].threads: bad load configuration: threads 300: want 1 to 256"},
		{"negative threads", "rates: 100:300:100", "rates: 100:300:100\n    threads: -1", ":18: workloads[1].threads: bad load configuration: threads -1: want 1 to 256"},
		{"threads over connections", "rates: 100:300:100", "rates: 100:300:100\n    connections: 2\n    threads: 3", ":19: workloads[1].threads: bad load configuration: threads 3: more than the 2 connections"},
		{"max_late over 1", "step: 1s", "step: 1s\n    max_late: 1.5", ":16: workloads[0].max_late: 1.5: want a fraction from 0 (off"},
		{"negative max_late", "step: 1s", "step: 1s\n    max_late: -0.1", ":16: workloads[0].max_late: -0.1: want a fraction from 0 (off"},
		{"threads on dns", "step: 1s", "step: 1s\n    threads: 2", ":16: workloads[0].threads: only for http workloads (dns runs a thread per socket: sockets)"},
		{"transport on http", "rates: 100:300:100", "rates: 100:300:100\n    transport: tcp", ":18: workloads[1].transport: only for dns workloads"},
		// An explicit zero where 0 means nothing is an error, not the default.
		{"zero repeats", "repeats: 2", "repeats: 0", ":2: repeats: 0: want 1 to 1000"},
		{"zero step", "step: 1s", "step: 0s", ":15: workloads[0].step: 0s: want a positive duration"},
		{"zero step number", "step: 1s", "step: 0", ":15: workloads[0].step: 0s: want a positive duration"},
		{"zero cpus", "cpus: 1", "cpus: 0", ":4: vm.cpus: 0: want 1 to 255"},
		{"zero memory", "memory_mib: 256", "memory_mib: 0", ":5: vm.memory_mib: 0: want at least 32"},
		{"zero sockets", "step: 1s", "step: 1s\n    sockets: 0", ":16: workloads[0].sockets: 0: want 1 to 1024"},
		{"zero connections", "rates: 100:300:100", "rates: 100:300:100\n    connections: 0", ":18: workloads[1].connections: 0: want 1 to 4096"},
		{"zero threads", "rates: 100:300:100", "rates: 100:300:100\n    threads: 0", ":18: workloads[1].threads: 0: want 1 to 256 (leave it out for one per 256 connections)"},
		{"zero timeout", "step: 1s", "step: 1s\n    timeout: 0s", ":16: workloads[0].timeout: 0s"},
		{"zero min_achieved", "step: 1s", "step: 1s\n    min_achieved: 0", ":16: workloads[0].min_achieved: 0"},
		{"zero late_after", "step: 1s", "step: 1s\n    late_after: 0s", ":16: workloads[0].late_after: 0s"},
		{"zero bisect", "step: 1s", "step: 1s\n    bisect: 0", ":16: workloads[0].bisect: 0"},
		{"empty rates", "rates: 1000,2000", `rates: ""`, ":14: workloads[0].rates: empty"},
		{"zero boot_timeout", "repeats: 2", "repeats: 2\nboot_timeout: 0s", ":3: boot_timeout: 0s"},
		{"zero port", "name: b\n    kind: native", "name: b\n    port: 0\n    kind: native", ":10: targets[1].port: 0: want 1 to 65535"},
		{"zero dns_sockets", "name: b\n    kind: native", "name: b\n    dns_sockets: 0\n    kind: native", ":10: targets[1].dns_sockets: 0: want 1 to 256"},
		// Names label files in the result directory: they must stay in it.
		{"name leaving the result directory", "name: b", "name: ../../../../tmp/x", `:9: targets[1].name: "../../../../tmp/x": want letters, digits`},
		{"name with a slash", "name: b", "name: a/b", `:9: targets[1].name: "a/b"`},
		{"name starting with a dot", "name: b", "name: .b", `:9: targets[1].name: ".b"`},
		{"name starting with a dash", "name: b", "name: -b", `:9: targets[1].name: "-b"`},
		{"workload name leaving", "kind: dns", "kind: dns\n    name: ../w", `:14: workloads[0].name: "../w"`},
		// Values passed on to other programs are checked for what they may be.
		{"nic with options", "memory_mib: 256", "memory_mib: 256\n  nic: \"virtio-net-pci,romfile=/etc/shadow\"", `:6: vm.nic: "virtio-net-pci,romfile=/etc/shadow": want a QEMU NIC model name`},
		{"kernel_package as an option", "kind: native\n    app: http", "kind: linux\n    app: http\n    kernel_package: \"-o=APT::Get::Print-URIs=1\"", `:12: targets[1].kernel_package: "-o=APT::Get::Print-URIs=1": not a Debian package name`},
		{"cmdline with NUL", "kind: native\n    app: http", "kind: osv\n    app: http\n    optional: true\n    image: /no/such/usr.img\n    cmdline: \"/ukbench serve http\\0x\"", `:14: targets[1].cmdline: "/ukbench serve http\x00x": holds a NUL byte`},
		{"http path with CRLF", "rates: 100:300:100", "rates: 100:300:100\n    path: \"/\\r\\nX-Injected: 1\"", ":18: workloads[1].path:"},
		// Checked with the config, not after a guest has booted.
		{"image path with CR/LF", "kind: native\n    app: http", "kind: osv\n    app: http\n    optional: true\n    image: \"/no/such\\r\\nusr.img\"\n    cmdline: x", `:13: targets[1].image: "/no/such\r\nusr.img": holds a carriage return`},
		{"queries path with LF", "step: 1s", "step: 1s\n    queries: \"/tmp/q\\n.txt\"", ":16: workloads[0].queries:"},
		{"output with LF", "repeats: 2", "repeats: 2\noutput: \"out\\nx\"", ":3: output:"},
		{"host_cpus beyond the host", "name: b\n    kind: native", "name: b\n    host_cpus: [99]\n    kind: native", ":10: targets[1].host_cpus: CPU 99: this host lets ukbench use CPUs"},
		{"bad queries line", "step: 1s", "step: 1s\n    queries: ${UKBENCH_TEST_BAD_QUERIES}", ":16: workloads[0].queries: bad query file: " + queries + ":2: \"NOTATYPE\" is not a DNS record type"},
		{"a choice of fields has a line", "kind: native\n    app: http", "kind: linux\n    app: http\n    kernel_root: /k\n    kernel_package: linux-image-amd64", ":12: targets[1].image/kernel_root/kernel_package: give at most one"},
		{"a memory size twice", "repeats: 2", "repeats: 2\nmemory_sweep: [256, 128, 256]", ":3: memory_sweep[2]: 256 MiB is given twice"},
		{"no targets", "targets:\n  - name: a\n    kind: native\n  - name: b\n    kind: native\n    app: http\n", "targets: []\n", "targets: none given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(goodConfig, tc.from) {
				t.Fatalf("test case edits %q, which the config lacks", tc.from)
			}
			p := writeConfig(t, strings.Replace(goodConfig, tc.from, tc.to, 1))
			_, _, err := Load(p)
			if !errors.Is(err, yamlstrict.ErrConfig) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("Load = %v\nwant an ErrConfig naming %s and containing %q", err, p, tc.want)
			}
		})
	}
}

// TestExplicitZeroMeansWhatTheREADMESays: where 0 has a meaning, an
// explicit 0 is kept (slo_p99: 0s is no SLO, warmup: 0s none, seed: 0 a
// seed), while a field left out takes its default.
func TestExplicitZeroMeansWhatTheREADMESays(t *testing.T) {
	c, _, err := Load(writeConfig(t, strings.Replace(goodConfig, "step: 1s", "step: 1s\n    slo_p99: 0s\n    warmup: 0s\n    seed: 0", 1)))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Workloads[0]
	if w.SLOP99 != 0 || w.Warmup != 0 || w.Seed != 0 {
		t.Errorf("explicit zeros: slo_p99 %v, warmup %v, seed %d; want all 0", w.SLOP99.D(), w.Warmup.D(), w.Seed)
	}
	if sc, err := sweepConfig(w); err != nil || sc.Criteria.SLOP99 != 0 || sc.Warmup != 0 {
		t.Errorf("sweep: %+v, %v; want no SLO and no warm-up", sc, err)
	}
	d := c.Workloads[1]
	if d.SLOP99.D() != 100*time.Millisecond || d.Warmup.D() != 2*time.Second || d.Seed != 1 || c.Repeats != 2 {
		t.Errorf("defaults: %+v", d)
	}
}

func TestPlanInterleavesAndRotates(t *testing.T) {
	c, _, err := Load(writeConfig(t, goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pr := range c.Plan() {
		got = append(got, pr.Key.String())
	}
	// dns has one target (b serves http only); http has both, rotated.
	want := []string{"a dns #1", "a http #1", "b http #1", "a dns #2", "b http #2", "a http #2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("plan = %q\nwant   %q", got, want)
	}
}

func TestShippedConfigsLoad(t *testing.T) {
	paths, _ := filepath.Glob("../configs/*.yaml")
	if len(paths) < 4 {
		t.Fatalf("configs/ holds %d experiments, want quickstart and the three utah ones", len(paths))
	}
	for _, p := range paths {
		if _, _, err := Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestBadConfigErrorsCarryTheirField: Load's error holds the field as a
// value, the path from the top of the file.
func TestBadConfigErrorsCarryTheirField(t *testing.T) {
	for from, tc := range map[string]struct{ to, field string }{
		"memory_mib: 256": {"memory_mib: 8", "vm.memory_mib"},
		"app: http":       {"app: gopher", "targets[1].app"},
		"step: 1s":        {"step: 1s\n    max_loss: 2", "workloads[0].max_loss"},
	} {
		_, _, err := Load(writeConfig(t, strings.Replace(goodConfig, from, tc.to, 1)))
		fe, ok := fielderr.As(err)
		if !errors.Is(err, yamlstrict.ErrConfig) || !ok || fe.Field() != tc.field {
			t.Errorf("%s: Load = %v, want an ErrConfig holding a *fielderr.Error for %s", tc.to, err, tc.field)
		}
	}
}

// aliasBomb is ten levels of ten YAML aliases (about 500 bytes) in the
// field that the line "FIELD:" opens: 10^10 values once expanded.
func aliasBomb(field string) string {
	var b strings.Builder
	b.WriteString(field + " [&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]")
	for i := 1; i < 10; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, ", &l%d [%s]", i, strings.Repeat(p+",", 9)+p)
	}
	return b.String() + "]"
}

// TestLoadRefusesAnAliasBomb: an alias bomb in a known field (a list, a
// string, a list of mappings) is refused, naming the file, the line and
// the field, before anything expands: the refusal allocates a few hundred
// KiB, not the gigabytes the expansion takes (6.4 GB, then out of memory).
func TestLoadRefusesAnAliasBomb(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"repeats: 2", "repeats: 2\n" + aliasBomb("memory_sweep:"), ":3: memory_sweep[0]: anchor &l0: YAML anchors and aliases are not accepted"},
		{"rates: 1000,2000", aliasBomb("rates:"), ":14: workloads[0].rates[0]: anchor &l0: YAML anchors and aliases are not accepted"},
		{"targets:\n  - name: a\n    kind: native\n  - name: b\n    kind: native\n    app: http\n", aliasBomb("targets:") + "\n", ":6: targets[0]: anchor &l0: YAML anchors and aliases are not accepted"},
	} {
		if !strings.Contains(goodConfig, tc.from) {
			t.Fatalf("test case edits %q, which the config lacks", tc.from)
		}
		p := writeConfig(t, strings.Replace(goodConfig, tc.from, tc.to, 1))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Load(p)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, yamlstrict.ErrConfig) || !errors.Is(err, yamlstrict.ErrAlias) || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("Load(bomb in %s) = %v\nwant an ErrAlias containing %q", tc.from, err, p+tc.want)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
			t.Errorf("Load(bomb in %s) allocated %d bytes, want at most 4 MiB", tc.from, n)
		}
	}
}

// TestLoadRefusesAFileTooLarge: a config over yamlstrict.MaxFileSize is
// refused by name, unread past the bound.
func TestLoadRefusesAFileTooLarge(t *testing.T) {
	p := writeConfig(t, goodConfig+"# "+strings.Repeat("x", yamlstrict.MaxFileSize)+"\n")
	if _, _, err := Load(p); !errors.Is(err, yamlstrict.ErrConfig) || !errors.Is(err, yamlstrict.ErrTooLarge) || !strings.Contains(err.Error(), p+": file too large") {
		t.Errorf("Load(large) = %v, want ErrTooLarge naming %s", err, p)
	}
}

// TestLoadRefusesAPlanTooLarge: a few lines that multiply into more than
// MaxRuns runs (repeats × memory sizes × workloads × targets) are refused
// before any plan is built; MaxRuns itself is accepted.
func TestLoadRefusesAPlanTooLarge(t *testing.T) {
	mems := make([]string, 100)
	for i := range mems {
		mems[i] = fmt.Sprint(64 + i)
	}
	config := func(workloads int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "name: big\nrepeats: 1000\nmemory_sweep: [%s]\n", strings.Join(mems, ", "))
		b.WriteString("targets:\n  - name: a\n    kind: native\n  - name: o\n    kind: osv\n    app: dns\n    optional: true\n    image: /no/such/usr.img\nworkloads:\n")
		for i := range workloads {
			fmt.Fprintf(&b, "  - name: w%d\n    kind: dns\n", i)
		}
		return b.String()
	}
	// Per repeat and workload: the native target once, the osv one per
	// memory size; 1000 * (1 + 100) runs a workload.
	_, _, err := Load(writeConfig(t, config(1)))
	if err == nil || !strings.Contains(err.Error(), "the plan has more than 100000 runs") {
		t.Errorf("Load(101,000 runs) = %v, want the plan refused", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err = Load(writeConfig(t, config(1000)))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, yamlstrict.ErrConfig) || !strings.Contains(err.Error(), "the plan has more than 100000 runs") {
		t.Errorf("Load(101 million runs) = %v, want the plan refused", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("Load(101 million runs) allocated %d bytes", n)
	}
	mems = mems[:99] // 1000 * (1 + 99): MaxRuns
	if c, _, err := Load(writeConfig(t, config(1))); err != nil || len(c.Plan()) != MaxRuns {
		t.Errorf("Load(MaxRuns runs) = %v", err)
	}
}
