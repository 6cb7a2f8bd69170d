package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testSSH is an SSH server on 127.0.0.1 (x/crypto's server side) that
// runs each exec request as `sh -c COMMAND` in home, as sshd would: the
// agents it starts are real processes. It accepts the one client key it
// made, which it writes with known_hosts and an ~/.ssh/config alias into
// home.
type testSSH struct {
	addr, home string
	env        []string // added to each command's environment

	mu       sync.Mutex
	commands []string
	procs    map[int]chan struct{} // pid → closed when it has exited
	wg       sync.WaitGroup
}

func startTestSSH(t *testing.T, env ...string) *testSSH {
	t.Helper()
	home := t.TempDir()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	authorized, _ := ssh.NewPublicKey(clientPub)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(authorized.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testSSH{addr: ln.Addr().String(), home: home, env: env, procs: map[int]chan struct{}{}}
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	// The client's side: key, known_hosts, an alias.
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	dot := filepath.Join(home, ".ssh")
	os.MkdirAll(dot, 0o700)
	os.WriteFile(filepath.Join(dot, "id_ed25519"), pem.EncodeToMemory(block), 0o600)
	os.WriteFile(filepath.Join(dot, "known_hosts"), []byte(knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, hostSigner.PublicKey())+"\n"), 0o600)
	host, port, _ := net.SplitHostPort(s.addr)
	os.WriteFile(filepath.Join(dot, "config"), []byte("Host testagent\n  HostName "+host+"\n  Port "+port+"\n"), 0o600)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serveConn(c, cfg) }()
		}
	}()
	return s
}

func (s *testSSH) serveConn(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.serveSession(ch, creqs) }()
	}
}

// serveSession runs the session's exec request and reports its exit.
func (s *testSSH) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		ssh.Unmarshal(req.Payload, &p)
		req.Reply(true, nil)
		go ssh.DiscardRequests(reqs)
		s.run(ch, p.Command)
		return
	}
}

func (s *testSSH) run(ch ssh.Channel, command string) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = s.home
	cmd.Env = append(os.Environ(), append([]string{"HOME=" + s.home}, s.env...)...)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, 127))
		return
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.commands = append(s.commands, command)
	s.procs[cmd.Process.Pid] = exited
	s.mu.Unlock()
	// The channel's end (the client closed the session) is the end of
	// the command's stdin, as with sshd.
	go func() { io.Copy(stdin, ch); stdin.Close() }()
	err := cmd.Wait()
	close(exited)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
			ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Msg, Lang  string
			}{Signal: strings.TrimPrefix(unixSignalName(ws.Signal()), "SIG")}))
			return
		}
	}
	ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(cmd.ProcessState.ExitCode())))
}

func unixSignalName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "KILL"
	}
	return sig.String()
}

// exited returns the channel closed when process pid (a command this
// server ran) has exited; nil when it ran none of that pid.
func (s *testSSH) exited(pid int) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[pid]
}

// ran counts the commands that contain sub.
func (s *testSSH) ran(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.commands {
		if strings.Contains(c, sub) {
			n++
		}
	}
	return n
}

// options are the coordinator's SSH options against this server.
func (s *testSSH) options(t *testing.T) SSHOptions {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return SSHOptions{Home: s.home, Binary: bin, RemoteDir: "agentbin"}
}
