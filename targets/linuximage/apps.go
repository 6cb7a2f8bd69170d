package linuximage

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/targets/servers"
)

// Apps a Linux guest can serve.
const (
	AppDNS      = "dns"      // ukbench serve dns
	AppHTTP     = "http"     // ukbench serve http
	AppNSD      = "nsd"      // the host's NSD, serving ukbench's zone
	AppLighttpd = "lighttpd" // the host's lighttpd, serving ukbench's page
)

// Ports the guest apps listen on.
const (
	DNSPort  = 53
	HTTPPort = 80
)

// StartedLine is what the guest init prints once it has started a server
// that prints no readiness line of its own (NSD, lighttpd).
const StartedLine = "ukbench init: server started"

// ReadyLine is the console line that says the guest's server is up.
func ReadyLine(app string) string {
	switch app {
	case AppDNS, AppHTTP:
		return "ukbench serve: ready"
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
}

type hostFile struct {
	src  string // host path to copy, or
	data []byte // content
	perm uint32
}

func (a *appFiles) write(path string, data string) {
	a.files[path] = hostFile{data: []byte(data), perm: 0o644}
}

// appFor returns the files and command of an app. ukbench is the static
// ukbench binary to put in the image.
func appFor(ctx context.Context, app, ukbench string, sockets int) (*appFiles, error) {
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
		bin, err := exec.LookPath("nsd")
		if err != nil {
			return nil, fmt.Errorf("app nsd: %w (install the nsd package)", err)
		}
		if err := a.withLibraries(ctx, bin, "/usr/sbin/nsd"); err != nil {
			return nil, err
		}
		a.write("/etc/nsd/nsd.conf", nsdConf)
		a.write("/etc/nsd/example.com.zone", servers.DefaultZone)
		a.write("/etc/passwd", "root:x:0:0:root:/:/bin/sh\n")
		a.write("/etc/group", "root:x:0:\n")
		a.dirs = []string{"/var/lib/nsd", "/run/nsd"}
		a.command = []string{"/usr/sbin/nsd", "-d", "-c", "/etc/nsd/nsd.conf"}
		a.started = StartedLine
	case AppLighttpd:
		bin, err := exec.LookPath("lighttpd")
		if err != nil {
			return nil, fmt.Errorf("app lighttpd: %w (install the lighttpd package)", err)
		}
		if err := a.withLibraries(ctx, bin, "/usr/sbin/lighttpd"); err != nil {
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
		a.command = []string{"/usr/sbin/lighttpd", "-D", "-f", "/etc/lighttpd/lighttpd.conf"}
		a.started = StartedLine
	default:
		return nil, fmt.Errorf("app %q: want dns, http, nsd or lighttpd", app)
	}
	return a, nil
}

// withLibraries adds a host binary (at dst in the image) and the shared
// libraries ldd lists for it, with the dynamic loader.
func (a *appFiles) withLibraries(ctx context.Context, src, dst string) error {
	a.files[dst] = hostFile{src: src, perm: 0o755}
	out, err := exec.CommandContext(ctx, "ldd", src).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", src, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "/") {
				real, err := filepath.EvalSymlinks(f)
				if err != nil {
					return fmt.Errorf("ldd %s: %s: %w", src, f, err)
				}
				a.files[f] = hostFile{src: real, perm: 0o755}
			}
		}
	}
	return sc.Err()
}

// checkStatic fails unless path is a statically linked ELF executable,
// which the guest needs (it has no C library).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("server binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("server binary %s is dynamically linked; the guest needs a static build (make build-static, or CGO_ENABLED=0 go build ./cmd/ukbench)", path)
		}
	}
	return nil
}

// DefaultBinary is the static ukbench to put in images: the running
// executable when it is static.
func DefaultBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return exe, checkStatic(exe)
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

const lighttpdConf = `server.document-root = "/var/www"
server.bind = "0.0.0.0"
server.port = 80
server.max-worker = 0
server.max-connections = 4096
server.max-keep-alive-requests = 1000000
server.errorlog = "/dev/console"
index-file.names = ( "index.html" )
`
