// Package libvirtd starts what the libvirt backend's real tests need,
// inside the test: Debian's libvirt daemon (installed with
// scripts/install-deps.sh when missing) and an sshd on a loopback port
// with a key pair and host key of the test's own. Every process it starts
// is killed when the test ends (and dies with the test binary). Tests skip
// with the reason when the daemon cannot be installed or started, or fail
// when UKBENCH_REQUIRE_QEMU is set (make test sets it: there they must
// run; testbin.SkipOrFail).
package libvirtd

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/vm"
)

// Socket is the system daemon's socket; SystemURI reaches it.
const (
	Socket    = "/run/libvirt/libvirt-sock"
	logSocket = "/run/libvirt/virtlogd-sock"
	SystemURI = "qemu:///system"
)

// startTimeout bounds a daemon's start, exec to its socket answering.
const startTimeout = 60 * time.Second

// lockFile serializes the tests of every package that use the system
// daemon (go test runs packages in parallel): one test at a time starts,
// uses and stops it.
const lockFile = "/run/lock/ukbench-libvirtd-test.lock"

// Daemon is a libvirtd the test started.
type Daemon struct {
	cmd    *exec.Cmd
	exited <-chan struct{} // closed when cmd has been waited for
}

// Start installs libvirt-daemon-system when missing, and starts virtlogd
// and libvirtd unless they already answer on their sockets. It skips the
// test (or fails it, see testbin.SkipOrFail), with the reason, when
// either cannot be had. A daemon that was running already is not the
// test's: Owned says so, and Kill refuses it.
func Start(t *testing.T) *Daemon {
	t.Helper()
	if os.Geteuid() != 0 {
		testbin.SkipOrFail(t, "the system libvirt daemon needs root")
	}
	install(t, "libvirt-daemon-system")
	lock(t)
	if !answers(logSocket) {
		if _, _, err := startProcess(t, logSocket, "virtlogd"); err != nil {
			testbin.SkipOrFail(t, err.Error())
		}
	}
	d := &Daemon{}
	if !answers(Socket) {
		var err error
		if d.cmd, d.exited, err = startProcess(t, Socket, "libvirtd"); err != nil {
			testbin.SkipOrFail(t, err.Error())
		}
	}
	return d
}

// Owned says whether the test started the daemon (and may Kill it); a
// test that kills it checks this before it starts anything, on its own
// goroutine, and skips when a daemon it does not own runs.
func (d *Daemon) Owned() bool { return d.cmd != nil }

// Kill SIGKILLs the daemon (its guests' QEMU processes go on running,
// as they do when libvirtd crashes) and waits for it. It refuses a
// daemon the test did not start. Safe off the test's goroutine.
func (d *Daemon) Kill() error {
	if d.cmd == nil {
		return fmt.Errorf("libvirtd was already running, not started by this test: not killing it")
	}
	d.cmd.Process.Kill()
	<-d.exited
	d.cmd = nil
	return nil
}

// Restart starts a new daemon (after Kill). Safe off the test's
// goroutine: it fails with an error, never with t.FailNow.
func (d *Daemon) Restart(t *testing.T) error {
	var err error
	d.cmd, d.exited, err = startProcess(t, Socket, "libvirtd")
	return err
}

// lock takes lockFile for the rest of the test (its cleanup, registered
// first, runs after the daemons' are stopped).
func lock(t *testing.T) {
	t.Helper()
	os.MkdirAll(filepath.Dir(lockFile), 0o755)
	f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		testbin.SkipOrFail(t, fmt.Sprintf("libvirtd test lock: %v", err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil { // held by another package's test: wait for it
		f.Close()
		testbin.SkipOrFail(t, fmt.Sprintf("libvirtd test lock: %v", err))
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// install runs the repository's scripts/install-deps.sh for pkgs, or
// skips (testbin.SkipOrFail).
func install(t *testing.T, pkgs ...string) {
	t.Helper()
	script := filepath.Join(repoRoot(t), "scripts", "install-deps.sh")
	out, err := exec.Command(script, pkgs...).CombinedOutput()
	if err != nil {
		testbin.SkipOrFail(t, fmt.Sprintf("cannot install %s: %v: %s", strings.Join(pkgs, " "), err, lastLines(out)))
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// startProcess runs prog in the foreground (its output in a test file),
// killed when the test ends, and waits for sock to accept a connection.
// It calls no t.FailNow (Restart runs it off the test's goroutine).
func startProcess(t *testing.T, sock string, prog string, args ...string) (*exec.Cmd, <-chan struct{}, error) {
	t.Helper()
	path, err := exec.LookPath(prog)
	if err != nil {
		path = filepath.Join("/usr/sbin", prog)
	}
	log := filepath.Join(t.TempDir(), prog+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := vm.StartPinned(cmd, nil); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("cannot start %s: %v", prog, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := waitSocket(sock, exited); err != nil {
		b, _ := os.ReadFile(log)
		return nil, nil, fmt.Errorf("%s did not start: %v: %s", prog, err, lastLines(b))
	}
	return cmd, exited, nil
}

// waitSocket polls until a unix or TCP socket accepts (there is nothing
// to wait on but the socket itself), the process exits, or startTimeout.
func waitSocket(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for !answers(addr) {
		select {
		case <-exited:
			return fmt.Errorf("exited before %s answered", addr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering after %v", addr, startTimeout)
		}
	}
	return nil
}

// answers says whether addr (a unix socket path or HOST:PORT) accepts a
// connection.
func answers(addr string) bool {
	network := "unix"
	if !strings.HasPrefix(addr, "/") {
		network = "tcp"
	}
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}

// SSHURI starts an sshd on a free loopback port, for root, with a host
// key and a client key made for the test, and returns the libvirt URI
// that reaches the system daemon through it:
// qemu+ssh://root@127.0.0.1:PORT/system?keyfile=…&known_hosts=… (the
// host key checked against a known_hosts file holding only that key).
func SSHURI(t *testing.T) string {
	t.Helper()
	install(t, "openssh-server")
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	hostKey, userKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "id_ed25519")
	for _, k := range []string{hostKey, userKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pub, _ := os.ReadFile(userKey + ".pub")
	auth := filepath.Join(dir, "authorized_keys")
	os.WriteFile(auth, pub, 0o600)
	hostPub, _ := os.ReadFile(hostKey + ".pub")
	fields := bytes.Fields(hostPub)
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1])), 0o600)
	conf := filepath.Join(dir, "sshd_config")
	os.WriteFile(conf, []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
`, port, hostKey, auth, filepath.Join(dir, "sshd.pid"))), 0o600)
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	if _, _, err := startProcess(t, fmt.Sprintf("127.0.0.1:%d", port), "sshd", "-D", "-e", "-f", conf); err != nil {
		testbin.SkipOrFail(t, err.Error())
	}
	q := url.Values{"keyfile": {userKey}, "known_hosts": {known}}
	return fmt.Sprintf("qemu+ssh://root@127.0.0.1:%d/system?%s", port, q.Encode())
}
