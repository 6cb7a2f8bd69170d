package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/results"
)

// The namespaces of TestAgentsInsideNetns: the coordinator's (the hub,
// which unshare makes and which holds the bridge), one per agent with
// Debian's sshd, and the server's.
const (
	netnsHubIP    = "10.78.0.1"
	netnsServerIP = "10.78.0.20"
	netnsRate     = 2000 // the merged-vs-single rate, requests/s
)

var netnsAgents = []struct{ name, ip, dest string }{
	{"a1", "10.78.0.11", "root@10.78.0.11"},
	{"a2", "10.78.0.12", "agent2"}, // an ~/.ssh/config alias
}

// TestAgentsOverSSHInNetns runs ukbench load with two agents over real
// OpenSSH, each agent in a network namespace of its own, against ukbench
// serve dns in another, all behind a bridge in a namespace unshare makes
// for the test: no traffic leaves the namespaces the test made.
func TestAgentsOverSSHInNetns(t *testing.T) {
	if os.Getenv("UKBENCH_AGENTS_NETNS") != "" {
		agentsInsideNetns(t) // this test binary, run again inside the namespace below
		return
	}
	if testing.Short() {
		t.Skip("builds ukbench and runs real sshd in network namespaces; skipped with -short")
	}
	if os.Geteuid() != 0 {
		testbin.SkipOrFail(t, "needs root: it creates network namespaces, a bridge and veth pairs, and runs sshd")
	}
	for _, tool := range []string{"unshare", "ip", "ssh-keygen", "/usr/sbin/sshd"} {
		if _, err := exec.LookPath(tool); err != nil {
			testbin.SkipOrFail(t, tool+" not installed (scripts/install-deps.sh openssh-server iproute2 util-linux)")
		}
	}
	bin := filepath.Join(t.TempDir(), "ukbench")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run", "^TestAgentsOverSSHInNetns$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "UKBENCH_AGENTS_NETNS=1", "UKBENCH_AGENTS_BINARY="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("inside the namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestAgentsOverSSHInNetns") {
		t.Fatalf("agents test in network namespaces failed: %v", err)
	}
}

// agentsInsideNetns is TestAgentsOverSSHInNetns inside the namespace it
// made: the bridge, the namespaces of the server and agents, the sshds,
// and the loads.
func agentsInsideNetns(t *testing.T) {
	bin := os.Getenv("UKBENCH_AGENTS_BINARY")
	tmp := t.TempDir()
	sh := func(args ...string) {
		t.Helper()
		if b, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, b)
		}
	}
	sh("ip", "link", "set", "lo", "up")
	sh("ip", "link", "add", "ukbr", "type", "bridge")
	sh("ip", "addr", "add", netnsHubIP+"/24", "dev", "ukbr")
	sh("ip", "link", "set", "ukbr", "up")
	nsName := func(n string) string { return fmt.Sprintf("ukb18-%d-%s", os.Getpid(), n) }
	addNS := func(n, ip string) {
		ns := nsName(n)
		sh("ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh("ip", "link", "add", "ukv"+n, "type", "veth", "peer", "name", "eth0", "netns", ns)
		sh("ip", "link", "set", "ukv"+n, "master", "ukbr", "up")
		sh("ip", "-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
		sh("ip", "-n", ns, "link", "set", "eth0", "up")
		sh("ip", "-n", ns, "link", "set", "lo", "up")
	}
	addNS("srv", netnsServerIP)
	// The server, ready when it says so.
	srv := exec.Command("ip", "netns", "exec", nsName("srv"), bin, "serve", "dns", "--listen", netnsServerIP+":53")
	srvOut, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	if line, _ := bufio.NewReader(srvOut).ReadString('\n'); !strings.Contains(line, "ready dns") {
		t.Fatalf("ukbench serve said %q, want its ready line", line)
	}
	// The coordinator's identity, and an sshd per agent namespace.
	home := filepath.Join(tmp, "home")
	dot := filepath.Join(home, ".ssh")
	os.MkdirAll(dot, 0o700)
	sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dot, "id_ed25519"))
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	var known []string
	for _, a := range netnsAgents {
		addNS(a.name, a.ip)
		key := filepath.Join(tmp, "hostkey-"+a.name)
		sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
		pub, _ := os.ReadFile(key + ".pub")
		known = append(known, a.ip+" "+strings.Join(strings.Fields(string(pub))[:2], " "))
		conf := filepath.Join(tmp, "sshd-"+a.name+".conf")
		os.WriteFile(conf, []byte(fmt.Sprintf(`ListenAddress %s:22
HostKey %s
PidFile %s/sshd-%s.pid
AuthorizedKeysFile %s/.ssh/id_ed25519.pub
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel ERROR
`, a.ip, key, tmp, a.name, home)), 0o600)
		sshd := exec.Command("ip", "netns", "exec", nsName(a.name), "/usr/sbin/sshd", "-D", "-e", "-f", conf)
		sshd.Stderr = os.Stderr
		if err := sshd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sshd.Process.Kill(); sshd.Wait() })
		waitListening(t, a.ip+":22")
	}
	os.WriteFile(filepath.Join(dot, "known_hosts"), []byte(strings.Join(known, "\n")+"\n"), 0o600)
	os.WriteFile(filepath.Join(dot, "config"), []byte("Host agent2\n  HostName 10.78.0.12\n  User root\n"), 0o600)
	remoteDir := filepath.Join(tmp, "remote")
	load := func(name string, extra ...string) (*exec.Cmd, *bufio.Scanner, string) {
		out := filepath.Join(tmp, name+".json")
		args := append([]string{"load", "dns", "--server", netnsServerIP + ":53", "--step", "2s", "--warmup", "1s", "--quiet", "--out", out,
			"--agent-dir", remoteDir}, extra...)
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
		c.Stderr = os.Stderr
		stdout, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewScanner(stdout), out
	}
	finish := func(c *exec.Cmd, sc *bufio.Scanner, out string) results.Run {
		t.Helper()
		for sc.Scan() {
			t.Log(sc.Text())
		}
		c.Wait() // its exit status is the sweep's verdict; the record is what is checked
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var r results.Run
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	rates := fmt.Sprintf("%d", netnsRate)
	local := finish(load("local", "--rates", rates, "--sockets", "4"))
	merged := finish(load("agents", "--rates", rates, "--sockets", "2", "--agent", netnsAgents[0].dest, "--agent", netnsAgents[1].dest))
	if len(local.Steps) != 1 || len(merged.Steps) != 1 {
		t.Fatalf("steps: local %d, agents %d (%s); want 1 each", len(local.Steps), len(merged.Steps), merged.Error)
	}
	l, m := local.Steps[0], merged.Steps[0]
	t.Logf("local at %d/s: achieved %.1f/s p50 %.0fµs p99 %.0fµs; 2 agents at %d/s each: achieved %.1f/s p50 %.0fµs p99 %.0fµs",
		netnsRate, l.AchievedRPS, l.LatencyUS.P50, l.LatencyUS.P99, netnsRate/2, m.AchievedRPS, m.LatencyUS.P50, m.LatencyUS.P99)
	for _, a := range m.Agents {
		t.Logf("  agent %s: offered %.0f/s achieved %.1f/s p50 %.0fµs p99 %.0fµs, clock offset %.0fµs ±%.0fµs",
			a.Agent, a.OfferedRPS, a.AchievedRPS, a.LatencyUS.P50, a.LatencyUS.P99, a.Clock.OffsetUS, a.Clock.BoundUS)
	}
	// How fast the server answered in each run is the host's business
	// (on a busy host two runs seconds apart differ tenfold); what the
	// coordinator owes, whatever the load, is the merge: the schedule
	// split evenly, the agents' counts and achieved rates adding up to the
	// step's, and the merged latency made of the agents' histograms.
	due := uint64(netnsRate * 2) // 2 s steps
	if len(m.Agents) != 2 || m.Sent+m.NeverSent != due || l.Sent+l.NeverSent != due {
		t.Fatalf("sends: local %d+%d, merged %d+%d over %d agents; want the schedule's %d each", l.Sent, l.NeverSent, m.Sent, m.NeverSent, len(m.Agents), due)
	}
	var sent, answered uint64
	var achieved float64
	for _, a := range m.Agents {
		if a.OfferedRPS != netnsRate/2 {
			t.Errorf("agent %s offered %.0f/s, want half of %d/s", a.Agent, a.OfferedRPS, netnsRate)
		}
		sent, answered, achieved = sent+a.Sent, answered+a.Answered, achieved+a.AchievedRPS
	}
	if sent != m.Sent || answered != m.Answered || achieved != m.AchievedRPS {
		t.Errorf("merged sent %d answered %d achieved %.1f/s; the agents' sums are %d, %d, %.1f/s", m.Sent, m.Answered, m.AchievedRPS, sent, answered, achieved)
	}
	// The median of a sum of histograms lies between its parts' medians
	// (HdrHistogram's rank rounding keeps this exact at 50 %, not at 99 %).
	lo, hi := m.Agents[0].LatencyUS.P50, m.Agents[1].LatencyUS.P50
	if lo > hi {
		lo, hi = hi, lo
	}
	if p50 := m.LatencyUS.P50; p50 < lo || p50 > hi {
		t.Errorf("merged p50 %.0fµs outside the agents' %.0f–%.0fµs", p50, lo, hi)
	}
	if m.LatencyUS.Max != max(m.Agents[0].LatencyUS.Max, m.Agents[1].LatencyUS.Max) {
		t.Errorf("merged max %.0fµs, want the larger of the agents' (%+v, %+v)", m.LatencyUS.Max, m.Agents[0].LatencyUS, m.Agents[1].LatencyUS)
	}
	if info := merged.Load; info == nil || len(info.Agents) != 2 || !info.Agents[0].Copied || info.Agents[1].Copied {
		t.Errorf("load info %+v: want 2 agents, the binary copied once (for the first)", merged.Load)
	}
	// SIGKILL of agent a1 one second into the second step (of 3 s).
	c, sc, out := load("kill", "--rates", "1000,1500,2000", "--agent", netnsAgents[0].dest, "--agent", netnsAgents[1].dest)
	row := regexp.MustCompile(`^\s+\d+\s+\d+\.\d`)
	for sc.Scan() {
		t.Log(sc.Text())
		if row.MatchString(sc.Text()) {
			break // the first step is done; the second starts now
		}
	}
	time.Sleep(time.Second) // where in the step the kill lands, not a wait for readiness
	victim := agentPIDs(t, remoteDir, nsName(netnsAgents[0].name))
	if len(victim) != 1 {
		t.Fatalf("agent processes of %s: %v, want 1", netnsAgents[0].name, victim)
	}
	syscall.Kill(victim[0], syscall.SIGKILL)
	killed := finish(c, sc, out)
	if len(killed.Steps) != 3 {
		t.Fatalf("%d steps (%s), want all 3 kept", len(killed.Steps), killed.Error)
	}
	s2 := killed.Steps[1]
	if s2.Valid || !strings.Contains(s2.InvalidReason, "agent "+netnsAgents[0].dest) || !strings.Contains(s2.InvalidReason, "signal KILL") {
		t.Errorf("step 2 valid=%v reason %q: want invalid, naming agent %s and SIGKILL", s2.Valid, s2.InvalidReason, netnsAgents[0].dest)
	}
	if s2.Agents[1].Error != "" || s2.Agents[1].Sent == 0 {
		t.Errorf("step 2's other agent: %+v: want its share kept", s2.Agents[1])
	}
	for _, i := range []int{0, 2} {
		for _, a := range killed.Steps[i].Agents {
			if a.Error != "" {
				t.Errorf("step %d, agent %s: %s; want only step 2 touched", i+1, a.Agent, a.Error)
			}
		}
	}
	// No agent left on either side once the coordinator has exited.
	deadline := time.Now().Add(10 * time.Second)
	for left := agentPIDs(t, remoteDir, ""); len(left) > 0; left = agentPIDs(t, remoteDir, "") {
		if time.Now().After(deadline) {
			t.Fatalf("agent processes %v still running 10s after the coordinator exited", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListening waits, at most 10 s, until addr accepts TCP connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after 10s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agentPIDs are the running agents started from remoteDir, in network
// namespace ns ("" any).
func agentPIDs(t *testing.T, remoteDir, ns string) []int {
	var nsID string
	if ns != "" {
		var st syscall.Stat_t
		if err := syscall.Stat("/run/netns/"+ns, &st); err != nil {
			t.Fatal(err)
		}
		nsID = fmt.Sprintf("net:[%d]", st.Ino)
	}
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p + "/cmdline")
		if err != nil || !strings.HasPrefix(string(cmdline), filepath.Join(remoteDir, "ukbench")+"\x00agent") {
			continue
		}
		if link, _ := os.Readlink(p + "/ns/net"); nsID != "" && link != nsID {
			continue
		}
		var pid int
		fmt.Sscan(filepath.Base(p), &pid)
		pids = append(pids, pid)
	}
	return pids
}
