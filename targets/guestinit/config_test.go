package guestinit

import "testing"

func TestCmdlineRoundTrip(t *testing.T) {
	n := Network{CIDR: "10.0.2.15/24", Gateway: "10.0.2.2"}
	got, err := ParseCmdline("console=ttyS0 quiet " + n.Cmdline() + " panic=-1")
	if err != nil || got != n {
		t.Errorf("ParseCmdline = %+v, %v; want %+v", got, err, n)
	}
	if _, err := ParseCmdline("console=ttyS0"); err == nil {
		t.Error("a command line without ukbench.ip was accepted")
	}
}

func TestExpandCommandFillsTheCPUCount(t *testing.T) {
	cmd := []string{"/usr/sbin/named", "-n", CPUsArg, "-x{cpus}"}
	got := ExpandCommand(cmd, 4)
	if got[2] != "4" || got[3] != "-x{cpus}" || cmd[2] != CPUsArg {
		t.Errorf("ExpandCommand = %q (input now %q)", got, cmd)
	}
}
