package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	sshagent "golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultRemoteDir is SSHOptions.RemoteDir when "": where the ukbench
// binary lives on an agent's host, relative to the login directory.
const DefaultRemoteDir = ".cache/ukbench"

// DefaultConnectTimeout is SSHOptions.ConnectTimeout when 0.
const DefaultConnectTimeout = 10 * time.Second

// defaultIdentities are the key files tried, in ~/.ssh, when the config
// names none (OpenSSH's order, less the kinds x/crypto lacks).
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// ErrHostKey: the agent host's key is not in known_hosts, or differs.
var ErrHostKey = errors.New("host key not verified")

// SSHOptions say how the coordinator reaches its agents.
type SSHOptions struct {
	// Home holds .ssh/config, .ssh/known_hosts and the .ssh/id_* keys;
	// default the user's home directory.
	Home string
	// AgentSocket is the SSH agent's socket ("" none); DefaultSSHOptions
	// takes $SSH_AUTH_SOCK.
	AgentSocket string
	// Binary is the ukbench binary that runs on the agents, copied there
	// when theirs differs; default this process's executable.
	Binary string
	// RemoteDir is where it goes; default DefaultRemoteDir.
	RemoteDir string
	// CPUs is the agent's CPU list on its host ("" all).
	CPUs           string
	ConnectTimeout time.Duration
}

// DefaultSSHOptions are SSHOptions from the environment: the user's home
// and SSH agent.
func DefaultSSHOptions() SSHOptions {
	return SSHOptions{AgentSocket: os.Getenv("SSH_AUTH_SOCK")}
}

// SSHLauncher starts agents on one host over SSH: it connects (host key
// checked against known_hosts, keys from the SSH agent and ~/.ssh), makes
// sure the host has this ukbench binary (copying it when its SHA-256
// differs), and runs `ukbench agent` in a session whose stdin and stdout
// are the protocol. Closing a launched Conn closes the session, and with
// it the agent's stdin: the agent exits. One Launch runs at a time; Close
// may be called while one runs, and ends it at once.
type SSHLauncher struct {
	dest   string
	opt    SSHOptions
	target sshTarget
	sha    string // of opt.Binary

	launching sync.Mutex // held by Launch

	mu     sync.Mutex // the fields below; never held across network I/O
	client *ssh.Client
	abort  context.CancelFunc // ends the Launch under way
	copied int                // times the binary was copied
}

// NewSSHLauncher reads dest against ~/.ssh/config and hashes the binary;
// it connects at the first Launch.
func NewSSHLauncher(dest string, opt SSHOptions) (*SSHLauncher, error) {
	var err error
	if opt.Home == "" {
		if opt.Home, err = os.UserHomeDir(); err != nil {
			return nil, err
		}
	}
	if opt.Binary == "" {
		if opt.Binary, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	if opt.RemoteDir == "" {
		opt.RemoteDir = DefaultRemoteDir
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = DefaultConnectTimeout
	}
	t, err := resolveDestination(dest, opt.Home)
	if err != nil {
		return nil, err
	}
	sha, err := FileSHA256(opt.Binary)
	if err != nil {
		return nil, fmt.Errorf("agent binary: %w", err)
	}
	return &SSHLauncher{dest: dest, opt: opt, target: t, sha: sha}, nil
}

// Copies is how many times the binary was copied to the host.
func (l *SSHLauncher) Copies() int { l.mu.Lock(); defer l.mu.Unlock(); return l.copied }

// RemotePath is where the binary lives on the host.
func (l *SSHLauncher) RemotePath() string { return path.Join(l.opt.RemoteDir, "ukbench") }

// Launch implements Launcher. When ctx ends, or Close is called, while
// it runs, it closes the SSH connection, which ends what was under way
// (the handshake, the binary's copy), and returns ctx's error.
func (l *SSHLauncher) Launch(ctx context.Context) (Launched, error) {
	l.launching.Lock()
	defer l.launching.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	l.abort = cancel
	l.mu.Unlock()
	defer func() { l.mu.Lock(); l.abort = nil; l.mu.Unlock() }()
	launched, err := l.launch(ctx)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("ssh %s: launch given up: %w (%v)", l.dest, context.Cause(ctx), err)
	}
	return launched, err
}

func (l *SSHLauncher) launch(ctx context.Context) (Launched, error) {
	c, err := l.connect(ctx)
	if err != nil {
		return Launched{}, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	copied, err := l.ensureBinary(c)
	if err != nil {
		return Launched{}, err
	}
	s, err := c.NewSession()
	if err != nil {
		return Launched{}, fmt.Errorf("ssh session: %w", err)
	}
	stdin, err1 := s.StdinPipe()
	stdout, err2 := s.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		s.Close()
		return Launched{}, err
	}
	conn := &sshConn{s: s, stdin: stdin, stdout: stdout, waited: make(chan struct{})}
	s.Stderr = &conn.stderr
	cmd := "exec " + shellQuote(l.RemotePath()) + " agent"
	if l.opt.CPUs != "" {
		cmd += " --cpus " + shellQuote(l.opt.CPUs)
	}
	if err := s.Start(cmd); err != nil {
		s.Close()
		return Launched{}, fmt.Errorf("start %s: %w", cmd, err)
	}
	go func() { conn.exit = s.Wait(); close(conn.waited) }()
	return Launched{Conn: conn, SHA256: l.sha, Copied: copied}, nil
}

// connect returns the SSH connection, dialling it when there is none or
// it no longer answers.
func (l *SSHLauncher) connect(ctx context.Context) (*ssh.Client, error) {
	l.mu.Lock()
	c := l.client
	l.mu.Unlock()
	if c != nil {
		if keepalive(ctx, c, l.opt.ConnectTimeout) == nil {
			return c, nil
		}
		c.Close()
		l.mu.Lock()
		if l.client == c {
			l.client = nil
		}
		l.mu.Unlock()
	}
	t := l.target
	files := t.KnownHosts
	if len(files) == 0 {
		files = []string{filepath.Join(l.opt.Home, ".ssh", "known_hosts")}
	}
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	if len(existing) == 0 {
		return nil, fmt.Errorf("%w: %s: no known_hosts file (%s): connect once with ssh, or add the key with ssh-keyscan", ErrHostKey, l.dest, strings.Join(files, ", "))
	}
	hostKeys, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	auth, closeAuth := l.auth()
	defer closeAuth()
	if len(auth) == 0 {
		return nil, fmt.Errorf("ssh %s: no key: no SSH agent and no readable unencrypted key in %s/.ssh", l.dest, l.opt.Home)
	}
	cfg := &ssh.ClientConfig{
		User: t.User, Auth: auth, Timeout: l.opt.ConnectTimeout,
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: knownAlgorithms(hostKeys, t.addr()),
	}
	d := net.Dialer{Timeout: l.opt.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", t.addr())
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", l.dest, err)
	}
	// ClientConfig.Timeout bounds only ssh.Dial: the handshake on a
	// connection of one's own is bounded here, and ends with ctx.
	nc.SetDeadline(time.Now().Add(l.opt.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(nc, t.addr(), cfg)
	if !stop() && err == nil {
		cc.Close()
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			return nil, fmt.Errorf("%w: %s (%s): %v", ErrHostKey, l.dest, t.addr(), err)
		}
		return nil, fmt.Errorf("ssh %s: %w", l.dest, err)
	}
	nc.SetDeadline(time.Time{})
	c = ssh.NewClient(cc, chans, reqs)
	l.mu.Lock()
	l.client = c
	l.mu.Unlock()
	return c, nil
}

// keepalive asks c whether it still answers, at most limit (a dead peer
// behind a live TCP connection would otherwise hold it for minutes).
func keepalive(ctx context.Context, c *ssh.Client, limit time.Duration) error {
	done := make(chan error, 1)
	go func() { _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); done <- err }()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("ssh keepalive: no answer in %v", limit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// auth is the SSH agent's keys, then the key files.
func (l *SSHLauncher) auth() ([]ssh.AuthMethod, func()) {
	var methods []ssh.AuthMethod
	closeAuth := func() {}
	if l.opt.AgentSocket != "" {
		if c, err := net.Dial("unix", l.opt.AgentSocket); err == nil {
			methods = append(methods, ssh.PublicKeysCallback(sshagent.NewClient(c).Signers))
			closeAuth = func() { c.Close() }
		}
	}
	files := l.target.Identities
	if len(files) == 0 {
		for _, f := range defaultIdentities {
			files = append(files, filepath.Join(l.opt.Home, ".ssh", f))
		}
	}
	var signers []ssh.Signer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if s, err := ssh.ParsePrivateKey(b); err == nil { // an encrypted key needs the agent
			signers = append(signers, s)
		}
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	return methods, closeAuth
}

// knownAlgorithms are the host key algorithms known_hosts holds for addr,
// so that the server is asked for a key that can be checked (x/crypto
// would otherwise take the server's first choice and fail on it). nil
// (x/crypto's defaults) when it holds none.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	probe, _ := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	tcp, _ := net.ResolveTCPAddr("tcp", addr)
	if tcp == nil {
		tcp = &net.TCPAddr{}
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, tcp, probe); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algs []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algs = append(algs, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, t)
		default:
			algs = append(algs, t)
		}
	}
	return algs
}

// ensureBinary copies the binary to RemotePath unless the file there has
// its SHA-256, and checks the copy. It reports whether it copied.
func (l *SSHLauncher) ensureBinary(c *ssh.Client) (bool, error) {
	p := shellQuote(l.RemotePath())
	if l.remoteSHA(c, p) == l.sha {
		return false, nil
	}
	f, err := os.Open(l.opt.Binary)
	if err != nil {
		return false, err
	}
	defer f.Close()
	s, err := c.NewSession()
	if err != nil {
		return false, fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	var stderr bytes.Buffer
	s.Stdin, s.Stderr = f, &stderr
	tmp := shellQuote(l.RemotePath() + ".tmp")
	cmd := fmt.Sprintf("mkdir -p %s && cat > %s.$$ && chmod 755 %s.$$ && mv -f %s.$$ %s", shellQuote(l.opt.RemoteDir), tmp, tmp, tmp, p)
	if err := s.Run(cmd); err != nil {
		return false, fmt.Errorf("copy ukbench to %s:%s: %v: %s", l.dest, l.RemotePath(), err, bytes.TrimSpace(stderr.Bytes()))
	}
	if got := l.remoteSHA(c, p); got != l.sha {
		return false, fmt.Errorf("copy ukbench to %s:%s: SHA-256 there is %q, want %s", l.dest, l.RemotePath(), got, l.sha)
	}
	l.mu.Lock()
	l.copied++
	l.mu.Unlock()
	return true, nil
}

// remoteSHA is the SHA-256 of the remote file at quoted path p, "" when
// there is none.
func (l *SSHLauncher) remoteSHA(c *ssh.Client, p string) string {
	s, err := c.NewSession()
	if err != nil {
		return ""
	}
	defer s.Close()
	out, _ := s.Output("sha256sum " + p + " 2>/dev/null")
	sum, _, _ := strings.Cut(string(out), " ")
	return sum
}

// Close implements Launcher: it ends a Launch under way and closes the
// SSH connection.
func (l *SSHLauncher) Close() error {
	l.mu.Lock()
	if l.abort != nil {
		l.abort()
	}
	c := l.client
	l.client = nil
	l.mu.Unlock()
	if c == nil {
		return nil
	}
	err := c.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// sshConn is a launched agent's session: Write goes to its stdin, Read
// comes from its stdout. When the stdout ends, Read says how the agent
// ended (its exit status or signal, and the end of its stderr).
type sshConn struct {
	s      *ssh.Session
	stdin  io.WriteCloser
	stdout io.Reader
	stderr tailBuffer
	waited chan struct{}
	exit   error // set before waited closes
}

func (c *sshConn) Write(b []byte) (int, error) { return c.stdin.Write(b) }

func (c *sshConn) Read(b []byte) (int, error) {
	n, err := c.stdout.Read(b)
	if err == io.EOF {
		select {
		case <-c.waited:
		case <-time.After(exitWait):
			return n, err
		}
		why := "exited"
		var ee *ssh.ExitError
		switch {
		case errors.As(c.exit, &ee) && ee.Signal() != "":
			why = "killed by signal " + ee.Signal()
		case c.exit != nil:
			why = c.exit.Error()
		}
		if tail := c.stderr.String(); tail != "" {
			why += ": " + tail
		}
		return n, fmt.Errorf("agent process %s", why)
	}
	return n, err
}

// Close closes the agent's stdin (it exits) and the session.
func (c *sshConn) Close() error {
	c.stdin.Close()
	err := c.s.Close()
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// exitWait bounds the wait for an agent's exit status after its stdout
// ended.
const exitWait = 2 * time.Second

// tailBuffer keeps the last tailBytes written to it; safe for concurrent
// use.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailBytes = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailBytes {
		t.b = t.b[len(t.b)-tailBytes:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
