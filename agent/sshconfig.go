package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// ErrDestination is wrapped by every error of a malformed agent
// destination (user@host[:port], or a host alias of ~/.ssh/config).
var ErrDestination = errors.New("bad agent destination")

// defaultSSHPort is the port of a destination that names none.
const defaultSSHPort = 22

// sshTarget is where an agent destination leads once ~/.ssh/config has
// been read: the address to dial, the user, and the identity files it
// names.
type sshTarget struct {
	User, Host string
	Port       int
	Identities []string // IdentityFile of the config, ~ expanded
	KnownHosts []string // UserKnownHostsFile of the config, ~ expanded
}

func (t sshTarget) addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// resolveDestination reads dest ("user@host", "host", "user@host:port",
// "user@[::1]:port", or an alias) with the Host blocks of home's
// .ssh/config, as far as they apply to an agent: HostName, User, Port,
// IdentityFile and UserKnownHostsFile. An explicit user or port in dest
// wins over the config's. A missing config is no error.
func resolveDestination(dest, home string) (sshTarget, error) {
	var t sshTarget
	alias := dest
	if u, h, ok := strings.Cut(dest, "@"); ok {
		t.User, alias = u, h
	}
	port := ""
	if h, p, err := net.SplitHostPort(alias); err == nil {
		alias, port = h, p
	}
	if alias == "" || strings.ContainsAny(alias, " /@") || (strings.Contains(dest, "@") && t.User == "") {
		return t, fmt.Errorf("%w %q: want user@host, host or user@host:port", ErrDestination, dest)
	}
	cfg := &ssh_config.Config{}
	if f, err := os.Open(filepath.Join(home, ".ssh", "config")); err == nil {
		cfg, err = ssh_config.Decode(f)
		f.Close()
		if err != nil {
			return t, fmt.Errorf("%s/.ssh/config: %w", home, err)
		}
	}
	get := func(key string) string { v, _ := cfg.Get(alias, key); return v }
	t.Host = alias
	if h := get("HostName"); h != "" {
		t.Host = strings.ReplaceAll(h, "%h", alias)
	}
	if t.User == "" {
		t.User = get("User")
	}
	if t.User == "" {
		if u, err := user.Current(); err == nil {
			t.User = u.Username
		}
	}
	if port == "" {
		port = get("Port")
	}
	t.Port = defaultSSHPort
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return t, fmt.Errorf("%w %q: port %q: want 1 to 65535", ErrDestination, dest, port)
		}
		t.Port = n
	}
	expand := func(p string) string {
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			return filepath.Join(home, rest)
		}
		return p
	}
	ids, _ := cfg.GetAll(alias, "IdentityFile")
	for _, p := range ids {
		t.Identities = append(t.Identities, expand(p))
	}
	if k := get("UserKnownHostsFile"); k != "" {
		for _, p := range strings.Fields(k) {
			t.KnownHosts = append(t.KnownHosts, expand(p))
		}
	}
	return t, nil
}
