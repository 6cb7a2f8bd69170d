package linuximage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// TestAppDigestCoversModulesAndLibraries: a change to any file the app
// brings (a module, a library, not only the binary) or to its command
// changes the digest; the same files give the same digest.
func TestAppDigestCoversModulesAndLibraries(t *testing.T) {
	dir := t.TempDir()
	bin, mod, lib := filepath.Join(dir, "server"), filepath.Join(dir, "mod_x.so"), filepath.Join(dir, "libx.so.1")
	for _, p := range []string{bin, mod, lib} {
		os.WriteFile(p, []byte("v1 "+p), 0o644)
	}
	app := func() *appFiles {
		return &appFiles{files: map[string]hostFile{
			"/usr/sbin/server":       {src: bin, perm: 0o755},
			"/usr/lib/server/mod.so": {src: mod, perm: 0o755},
			"/usr/lib/libx.so.1":     {src: lib, perm: 0o755},
			"/etc/server.conf":       {data: []byte("listen 80\n"), perm: 0o644},
		}, command: []string{"/usr/sbin/server", "-f"}, host: &HostApp{Binary: bin, Version: "server 1.0"}}
	}
	base, err := app().digest()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := app().digest(); again != base {
		t.Fatal("the same files gave two digests")
	}
	for _, p := range []string{mod, lib, bin} {
		os.WriteFile(p, []byte("v2 "+p), 0o644)
		d, err := app().digest()
		if err != nil {
			t.Fatal(err)
		}
		if d == base {
			t.Errorf("%s changed (the version string did not): same digest", filepath.Base(p))
		}
		base = d
	}
	a := app()
	a.command = append(a.command, "-D")
	if d, _ := a.digest(); d == base {
		t.Error("another command: same digest")
	}
	os.Remove(lib)
	if _, err := app().digest(); err == nil {
		t.Error("a library gone: no error")
	}
}

// TestAppDigestOfAHostApp: for lighttpd, when the host has it, the digest
// is stable and differs from nsd's.
func TestAppDigestOfAHostApp(t *testing.T) {
	ctx := context.Background()
	a, err := AppDigest(ctx, AppLighttpd, 0)
	if err != nil {
		testbin.SkipOrFail(t, fmt.Sprintf("lighttpd: %v (make deps-apps installs it)", err))
	}
	if b, err := AppDigest(ctx, AppLighttpd, 0); err != nil || a != b {
		t.Errorf("second digest %s, %v; want %s", b, err, a)
	}
	if d, err := AppDigest(ctx, AppDNS, 0); err != nil || d == a {
		t.Errorf("dns digest %s, %v", d, err)
	}
}
