package vm

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digitalocean/go-libvirt/socket"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// ErrLibvirtURI marks a libvirt URI ukbench cannot use.
var ErrLibvirtURI = errors.New("bad libvirt URI")

// libvirtDialTimeout bounds one connection to a libvirt daemon (the TCP or
// SSH handshake, or the unix socket's connect).
const libvirtDialTimeout = 10 * time.Second

// LibvirtURI is a checked libvirt connection URI: the QEMU driver's
// system instance (qemu:///system), reached over the local socket
// (qemu:// or qemu+unix://), SSH (qemu+ssh://, qemu+libssh://), TCP
// (qemu+tcp://) or TLS (qemu+tls://).
type LibvirtURI struct {
	u         *url.URL
	transport string // unix, ssh, libssh, tcp, tls
}

// ParseLibvirtURI checks s. A URI that holds a password is refused (it
// would be kept in manifest.json): use an SSH key (keyfile=) or agent.
func ParseLibvirtURI(s string) (LibvirtURI, error) {
	if s == "" {
		return LibvirtURI{}, fmt.Errorf("%w: required with backend libvirt (e.g. qemu:///system or qemu+ssh://user@host/system)", ErrLibvirtURI)
	}
	u, err := url.Parse(s)
	if err != nil {
		return LibvirtURI{}, fmt.Errorf("%w: %w", ErrLibvirtURI, err)
	}
	driver, transport, _ := strings.Cut(u.Scheme, "+")
	if driver != "qemu" {
		return LibvirtURI{}, fmt.Errorf("%w: %q: want the qemu driver (qemu:// or qemu+TRANSPORT://)", ErrLibvirtURI, s)
	}
	if transport == "" {
		transport = "unix"
		if u.Host != "" {
			transport = "tls" // libvirt's rule for qemu://host/
		}
	}
	switch transport {
	case "unix", "ssh", "libssh", "tcp", "tls":
	default:
		return LibvirtURI{}, fmt.Errorf("%w: %q: transport %q: want unix, ssh, libssh, tcp or tls", ErrLibvirtURI, s, transport)
	}
	if u.Path != "/system" {
		// go-qemu's libvirt monitor opens qemu:///system; session
		// daemons would also give the guests other users' limits.
		return LibvirtURI{}, fmt.Errorf("%w: %q: want the system instance (path /system)", ErrLibvirtURI, s)
	}
	if _, ok := u.User.Password(); ok {
		return LibvirtURI{}, fmt.Errorf("%w: holds a password, which manifest.json would keep: use an SSH key (keyfile=) or the agent", ErrLibvirtURI)
	}
	if transport == "unix" && u.Host != "" {
		return LibvirtURI{}, fmt.Errorf("%w: %q: a unix socket has no host", ErrLibvirtURI, s)
	}
	if transport != "unix" && u.Host == "" {
		return LibvirtURI{}, fmt.Errorf("%w: %q: transport %s needs a host", ErrLibvirtURI, s, transport)
	}
	return LibvirtURI{u: u, transport: transport}, nil
}

// String is the URI as given.
func (l LibvirtURI) String() string { return l.u.String() }

// Redacted is the URI without its user name, for the manifest and logs.
func (l LibvirtURI) Redacted() string {
	r := *l.u
	r.User = nil
	return r.String()
}

// Host is the libvirt host's name ("" for the local socket).
func (l LibvirtURI) Host() string { return l.u.Hostname() }

// Local says whether the libvirt host is this one: the local socket, or a
// loopback address (what user networking's forwards need).
func (l LibvirtURI) Local() bool {
	h := l.u.Hostname()
	if h == "" || h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// dialer is the connection to the daemon, one net.Conn per Dial: the
// control connection and go-qemu's libvirt monitor each take one, so both
// reach the daemon the same way. SSH checks the host key against
// known_hosts= (default ~/.ssh/known_hosts, $HOME's) and authenticates
// with keyfile= (default ~/.ssh/id_*) or the agent.
func (l LibvirtURI) dialer() (socket.Dialer, error) {
	q := l.u.Query()
	switch l.transport {
	case "unix":
		opts := []dialers.LocalOption{dialers.WithLocalTimeout(libvirtDialTimeout)}
		if s := q.Get("socket"); s != "" {
			opts = append(opts, dialers.WithSocket(s))
		}
		return dialers.NewLocal(opts...), nil
	case "tcp":
		opts := []dialers.RemoteOption{dialers.WithRemoteTimeout(libvirtDialTimeout)}
		if p := l.u.Port(); p != "" {
			opts = append(opts, dialers.UsePort(p))
		}
		return dialers.NewRemote(l.u.Hostname(), opts...), nil
	case "tls":
		var opts []dialers.TLSOption
		if p := l.u.Port(); p != "" {
			opts = append(opts, dialers.UseTLSPort(p))
		}
		if p := q.Get("pkipath"); p != "" {
			opts = append(opts, dialers.UsePKIPath(p))
		}
		return dialers.NewTLS(l.u.Hostname(), opts...), nil
	}
	// ssh, libssh: go-libvirt's Go SSH client, host key always checked.
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("%w: ssh: %w", ErrLibvirtURI, err)
	}
	known := q.Get("known_hosts")
	if known == "" {
		known = filepath.Join(home, ".ssh", "known_hosts")
	}
	opts := []dialers.SSHOption{dialers.UseKnownHostsFile(known)}
	if p := l.u.Port(); p != "" {
		opts = append(opts, dialers.UseSSHPort(p))
	}
	if n := l.u.User.Username(); n != "" {
		opts = append(opts, dialers.UseSSHUsername(n))
	}
	if k := q.Get("keyfile"); k != "" {
		opts = append(opts, dialers.UseKeyFile(k))
	}
	if s := q.Get("socket"); s != "" {
		opts = append(opts, dialers.WithRemoteSocket(s))
	}
	return dialers.NewSSH(l.u.Hostname(), opts...), nil
}
