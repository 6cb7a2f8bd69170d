package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestResolveDestination(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(`Host gen1
  HostName 10.0.0.7
  User bench
  Port 2222
  IdentityFile ~/.ssh/bench_key
`), 0o600)
	for _, c := range []struct {
		dest       string
		user, addr string
	}{
		{"gen1", "bench", "10.0.0.7:2222"},
		{"root@gen1", "root", "10.0.0.7:2222"},
		{"root@gen1:2200", "root", "10.0.0.7:2200"},
		{"me@host.example", "me", "host.example:22"},
		{"me@[::1]:2022", "me", "[::1]:2022"},
	} {
		got, err := resolveDestination(c.dest, home)
		if err != nil {
			t.Errorf("%s: %v", c.dest, err)
			continue
		}
		if got.User != c.user || got.addr() != c.addr {
			t.Errorf("%s: %s@%s, want %s@%s", c.dest, got.User, got.addr(), c.user, c.addr)
		}
	}
	if got, _ := resolveDestination("gen1", home); len(got.Identities) != 1 || got.Identities[0] != filepath.Join(home, ".ssh", "bench_key") {
		t.Errorf("identities %v, want ~/.ssh/bench_key expanded", got.Identities)
	}
	for _, bad := range []string{"", "@host", "me@", "me@host:0", "a b"} {
		if _, err := resolveDestination(bad, home); !errors.Is(err, ErrDestination) {
			t.Errorf("%q: %v, want ErrDestination", bad, err)
		}
	}
}
