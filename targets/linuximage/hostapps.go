package linuximage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrAppMissing: the host lacks the server binary an app copies into the
// guest; the message names the Debian package to install.
var ErrAppMissing = errors.New("app binary missing")

// hostApp is a server the guest runs from the host's binary.
type hostApp struct {
	binary    string   // program name on the host
	pkg       string   // the Debian package that installs it
	guestPath string   // where it goes in the guest
	version   []string // the arguments that make it print its version
}

// hostApps are the apps that copy a host server into the guest.
var hostApps = map[string]hostApp{
	AppNSD:      {binary: "nsd", pkg: "nsd", guestPath: "/usr/sbin/nsd", version: []string{"-v"}},
	AppLighttpd: {binary: "lighttpd", pkg: "lighttpd", guestPath: "/usr/sbin/lighttpd", version: []string{"-v"}},
	AppBind:     {binary: "named", pkg: "bind9", guestPath: "/usr/sbin/named", version: []string{"-v"}},
	AppApache:   {binary: "apache2", pkg: "apache2", guestPath: "/usr/sbin/apache2", version: []string{"-v"}},
}

// HostApp is the provenance of a host server in an image.
type HostApp struct {
	Binary  string `json:"binary"`  // host path it was copied from
	Version string `json:"version"` // the first line of its version output
	// Config states what the config ukbench wrote fixes (threads,
	// workers, MPM...), as recorded in the run's provenance.
	Config string `json:"config,omitempty"`
}

// HostAppVersion finds an app's host binary and its version (for the
// image cache key: a package upgrade makes a new image). It fails with
// ErrAppMissing naming the package when the host lacks it; "" for the
// ukbench apps.
func HostAppVersion(ctx context.Context, app string) (*HostApp, error) {
	h, ok := hostApps[app]
	if !ok {
		return nil, nil
	}
	bin, err := exec.LookPath(h.binary)
	if err != nil {
		// Root's PATH has the sbin directories; another user's may not.
		if alt := filepath.Join("/usr/sbin", h.binary); fileExists(alt) {
			bin, err = alt, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: app %s needs %s: apt-get install %s", ErrAppMissing, app, h.binary, h.pkg)
	}
	out, err := exec.CommandContext(ctx, bin, h.version...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("app %s: %s %s: %w: %s", app, bin, strings.Join(h.version, " "), err, lastLine(out))
	}
	v := strings.TrimSpace(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
	return &HostApp{Binary: bin, Version: v}, nil
}

// withHostApp adds an app's host binary, with its libraries, at its guest
// path.
func (a *appFiles) withHostApp(ctx context.Context, app string) error {
	h, err := HostAppVersion(ctx, app)
	if err != nil {
		return err
	}
	if err := a.withLibraries(ctx, h.Binary, hostApps[app].guestPath); err != nil {
		return err
	}
	a.host = h
	return nil
}

// withModules adds the shared objects matching a host glob (a server's
// plugins) at the same paths, with their libraries.
func (a *appFiles) withModules(ctx context.Context, paths ...string) error {
	for _, m := range paths {
		if _, err := os.Stat(m); err != nil {
			return fmt.Errorf("%w: %v", ErrAppMissing, err)
		}
		if err := a.withLibraries(ctx, m, m); err != nil {
			return err
		}
	}
	return nil
}

// withLibcCompanion adds a library that glibc loads at run time (dlopen,
// so ldd does not list it) from the directory of the libc already in the
// image.
func (a *appFiles) withLibcCompanion(ctx context.Context, name string) error {
	for _, l := range a.libs {
		if strings.HasPrefix(filepath.Base(l), "libc.so") {
			p := filepath.Join(filepath.Dir(l), name)
			if !fileExists(p) {
				return fmt.Errorf("%w: %s, which glibc loads at run time, is not beside %s", ErrMissingLibrary, name, l)
			}
			return a.withLibraries(ctx, p, p)
		}
	}
	return fmt.Errorf("%w: no libc in the image to take %s from", ErrMissingLibrary, name)
}
