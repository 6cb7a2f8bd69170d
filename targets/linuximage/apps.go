package linuximage

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ukbench/ukbench/targets/servers"
)

// Apps a Linux guest can serve.
const (
	AppDNS      = string(servers.DNS)  // ukbench serve dns
	AppHTTP     = string(servers.HTTP) // ukbench serve http
	AppNSD      = "nsd"                // the host's NSD, serving ukbench's zone
	AppLighttpd = "lighttpd"           // the host's lighttpd, serving ukbench's page
	AppBind     = "bind"               // the host's BIND (named), serving ukbench's zone
	AppApache   = "apache"             // the host's Apache (apache2), serving ukbench's page
)

// AppNames lists the apps, for errors and usage lines.
const AppNames = "dns, http (ukbench serve), nsd, bind, lighttpd or apache (the host's)"

// AppProtocol is what an app serves.
func AppProtocol(app string) servers.Protocol {
	switch app {
	case AppDNS, AppNSD, AppBind:
		return servers.DNS
	}
	return servers.HTTP
}

// IsApp reports whether app is one a Linux guest can serve.
func IsApp(app string) bool {
	_, host := hostApps[app]
	return host || app == AppDNS || app == AppHTTP
}

// Ports the guest apps listen on.
const (
	DNSPort  = 53
	HTTPPort = 80
)

// StartedLine is what the guest init prints once it has started a server
// that prints no readiness line of its own (the host's servers).
const StartedLine = "ukbench init: server started"

// ReadyLine is the console line that says the guest's server is up.
func ReadyLine(app string) string {
	switch app {
	case AppDNS, AppHTTP:
		return servers.ReadyPrefix
	}
	return StartedLine
}

// appFiles is what an app adds to the initramfs.
type appFiles struct {
	files   map[string]hostFile // path in the image → content
	links   map[string]string   // symlink path → target
	command []string
	dirs    []string
	started string
	libs    []string // shared objects added (paths in the image)
	// host is the host's server binary (the host apps), with its version
	// and the settings its config fixes, for the image's provenance.
	host *HostApp
}

type hostFile struct {
	src  string // host path to copy, or
	data []byte // content
	perm uint32
}

func (a *appFiles) write(path string, data string) {
	a.files[path] = hostFile{data: []byte(data), perm: 0o644}
}

// appFor returns the files and command of an app (the ukbench binary,
// /init, is added by Build).
func appFor(ctx context.Context, app string, sockets int) (*appFiles, error) {
	a := &appFiles{files: map[string]hostFile{}}
	switch app {
	case AppDNS, AppHTTP:
		a.links = map[string]string{"/bin/ukbench": "/init"} // /init is ukbench
		a.command = []string{"/bin/ukbench", "serve", app, "--listen", fmt.Sprintf("0.0.0.0:%d", DNSPort)}
		if app == AppDNS {
			a.command = append(a.command, "--sockets", fmt.Sprint(sockets))
		} else {
			a.command[4] = fmt.Sprintf("0.0.0.0:%d", HTTPPort)
		}
	case AppNSD:
		if err := a.withHostApp(ctx, app); err != nil {
			return nil, err
		}
		a.write("/etc/nsd/nsd.conf", nsdConf)
		a.write("/etc/nsd/example.com.zone", servers.DefaultZone)
		a.write("/etc/passwd", "root:x:0:0:root:/:/bin/sh\n")
		a.write("/etc/group", "root:x:0:\n")
		a.dirs = []string{"/var/lib/nsd", "/run/nsd"}
		a.command = []string{hostApps[app].guestPath, "-d", "-c", "/etc/nsd/nsd.conf"}
		a.started = StartedLine
	case AppLighttpd:
		if err := a.withHostApp(ctx, app); err != nil {
			return nil, err
		}
		mods, _ := filepath.Glob("/usr/lib/lighttpd/*.so")
		for _, m := range mods {
			if err := a.withLibraries(ctx, m, m); err != nil {
				return nil, err
			}
		}
		a.write("/etc/lighttpd/lighttpd.conf", lighttpdConf)
		a.write("/var/www/index.html", string(servers.Page(servers.DefaultBodySize)))
		a.write("/etc/passwd", "root:x:0:0:root:/:/bin/sh\n")
		a.write("/etc/group", "root:x:0:\n")
		a.command = []string{hostApps[app].guestPath, "-D", "-f", "/etc/lighttpd/lighttpd.conf"}
		a.started = StartedLine
	case AppBind:
		if err := a.withBind(ctx); err != nil {
			return nil, err
		}
	case AppApache:
		if err := a.withApache(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("app %q: want %s", app, AppNames)
	}
	return a, nil
}

// withLibraries adds a host ELF file (at dst in the image) and the shared
// objects the dynamic loader maps for it: its interpreter (at the path in
// its PT_INTERP) and the libraries ldd lists, at the paths this host's
// loader finds them, which the guest's copy of that loader searches too
// (its default directories, RUNPATH). The guest has no /etc/ld.so.cache
// and no LD_LIBRARY_PATH, so ldd runs without the latter, and a library
// this host's loader finds only through its cache is refused
// (ErrLibraryPath) rather than packed where the guest would not look, as
// is a RUNPATH relative to a binary that moves ($ORIGIN). A file that
// needs no loader (a static build) is added alone.
func (a *appFiles) withLibraries(ctx context.Context, src, dst string) error {
	a.files[dst] = hostFile{src: src, perm: 0o755}
	f, err := elf.Open(src)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	interp, needed, origin, err := dynamicInfo(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if interp == "" && len(needed) == 0 {
		return nil
	}
	if origin && filepath.Dir(filepath.Clean(src)) != filepath.Dir(dst) {
		return fmt.Errorf("%w: %s finds its libraries relative to itself ($ORIGIN in its RUNPATH), but it is %s in the guest", ErrLibraryPath, src, dst)
	}
	objs, err := loaderList(ctx, src)
	if err != nil {
		return err
	}
	if interp != "" && !slices.ContainsFunc(objs, func(o sharedObject) bool { return o.path == interp }) {
		objs = append(objs, sharedObject{name: interp, path: interp})
	}
	for _, o := range objs {
		if o.path == "" {
			why := ""
			if os.Getenv("LD_LIBRARY_PATH") != "" {
				why = " (LD_LIBRARY_PATH is not used: the guest has none)"
			}
			return fmt.Errorf("%w: %s needs %s, which this host's loader does not find%s", ErrMissingLibrary, src, o.name, why)
		}
		real, err := filepath.EvalSymlinks(o.path)
		if err != nil {
			return fmt.Errorf("%w: %s needs %s: %v", ErrMissingLibrary, src, o.path, err)
		}
		a.files[o.path] = hostFile{src: real, perm: 0o755}
		if !slices.Contains(a.libs, o.path) {
			a.libs = append(a.libs, o.path)
		}
	}
	if interp != "" {
		return checkGuestFinds(ctx, src, interp, objs)
	}
	return nil
}

const nsdConf = `server:
  ip-address: 0.0.0.0
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "/etc/nsd"
  zonelistfile: "/var/lib/nsd/zone.list"
  database: ""
  xfrdfile: "/var/lib/nsd/xfrd.state"
  pidfile: "/run/nsd/nsd.pid"
  verbosity: 2
  rrl-ratelimit: 0
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
`

// LighttpdConf is the lighttpd config that serves ukbench's page
// (/var/www/index.html) on port 80 with keep-alive, the same for every
// target, followed by a target's own lines (one setting each).
func LighttpdConf(lines ...string) string {
	var b strings.Builder
	b.WriteString(`server.document-root = "/var/www"
server.bind = "0.0.0.0"
server.port = 80
server.max-worker = 0
server.max-connections = 4096
server.max-keep-alive-requests = 1000000
index-file.names = ( "index.html" )
`)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// lighttpdConf is the Linux guest's: errors to the console (the guest has
// no /var/log).
var lighttpdConf = LighttpdConf(`server.errorlog = "/dev/console"`)
