package libvirtd

import "testing"

// TestKillRefusesADaemonItDidNotStart: a Daemon over a system libvirtd
// the test found running is not Owned, and Kill says so with an error
// (callable off the test's goroutine), never by skipping.
func TestKillRefusesADaemonItDidNotStart(t *testing.T) {
	d := &Daemon{}
	if d.Owned() {
		t.Error("a daemon found running is Owned")
	}
	if err := d.Kill(); err == nil {
		t.Error("Kill of a daemon not started by the test: no error")
	}
}
