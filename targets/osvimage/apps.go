package osvimage

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/servers"
)

// Apps an OSv image can serve: ukbench's own servers and the host's
// lighttpd, as the Utah study ran it on OSv. NSD is known so that it is
// refused by name (it forks its servers).
const (
	AppDNS      = linuximage.AppDNS
	AppHTTP     = linuximage.AppHTTP
	AppLighttpd = linuximage.AppLighttpd
	AppNSD      = linuximage.AppNSD
)

// AppNames lists the apps an OSv image can serve, for errors and usage
// lines.
const AppNames = "dns, http or lighttpd"

// IsApp reports whether app is one Build knows: one of AppNames, or NSD,
// which it refuses saying why (ErrUnsupported).
func IsApp(app string) bool {
	switch app {
	case AppDNS, AppHTTP, AppLighttpd, AppNSD:
		return true
	}
	return false
}

// Errors of the application's files.
var (
	// ErrAppBinary: a file of the application is not an x86-64 ELF file,
	// or not one OSv runs.
	ErrAppBinary = errors.New("not an application OSv runs")
	// ErrNoPIE: no externally linked PIE ukbench was found for dns or http.
	ErrNoPIE = errors.New("no PIE ukbench")
)

// UkbenchPath is where ukbench goes on the disk (the command line's
// program).
const UkbenchPath = "/ukbench"

// lighttpdStarted is what lighttpd logs (to the console: the config sets
// no error log) once it listens: "(server.c.1704) server started
// (lighttpd/1.4.69)".
const lighttpdStarted = "server started"

// ReadyLine is the console line that says a composed guest's application
// is up.
func ReadyLine(app string) string {
	if app == AppLighttpd {
		return lighttpdStarted
	}
	return servers.ReadyPrefix
}

// app is what an application puts on the disk.
type app struct {
	elfs    map[string]string // disk path → host ELF file (libraries are found for these)
	files   map[string][]byte // disk path → content ukbench writes
	command []string
	ready   string
	// tolerated maps process calls (processCalls) the program links but
	// never makes with the configuration ukbench writes to why not.
	tolerated map[string]string
	// forks says, for the refusal, why the program cannot do without the
	// process calls it links.
	forks string
}

// appFor returns the application's files and command line. binary is the
// PIE ukbench for dns and http.
func appFor(name, binary string, sockets int) (*app, error) {
	a := &app{elfs: map[string]string{}, files: map[string][]byte{}}
	switch name {
	case AppDNS, AppHTTP:
		if err := checkPIE(binary); err != nil {
			return nil, err
		}
		a.elfs[UkbenchPath] = binary
		port := linuximage.HTTPPort
		if name == AppDNS {
			port = linuximage.DNSPort
		}
		a.command = []string{UkbenchPath, "serve", name, "--listen", fmt.Sprintf("0.0.0.0:%d", port)}
		if name == AppDNS {
			a.command = append(a.command, "--sockets", fmt.Sprint(sockets))
		}
		a.ready = ReadyLine(name)
	case AppLighttpd:
		bin, err := exec.LookPath("lighttpd")
		if err != nil {
			return nil, fmt.Errorf("app lighttpd: %w (install the lighttpd package)", err)
		}
		a.elfs["/usr/sbin/lighttpd"] = bin
		a.files["/etc/lighttpd/lighttpd.conf"] = []byte(lighttpdConf)
		a.files["/var/www/index.html"] = servers.Page(servers.DefaultBodySize)
		a.command = []string{"/usr/sbin/lighttpd", "-D", "-f", "/etc/lighttpd/lighttpd.conf"}
		a.ready = ReadyLine(name)
		why := "only to daemonise (not with -D), for worker processes (server.max-worker > 0), piped loggers and CGI, none of which the config ukbench writes uses"
		a.tolerated = map[string]string{"fork": why, "execve": why, "execv": why}
	case AppNSD:
		bin, err := exec.LookPath("nsd")
		if err != nil {
			return nil, fmt.Errorf("app nsd: %w (install the nsd package)", err)
		}
		a.elfs["/usr/sbin/nsd"] = bin
		a.command = []string{"/usr/sbin/nsd", "-d", "-c", "/etc/nsd/nsd.conf"}
		a.forks = "NSD forks its server processes, whatever server-count says"
	default:
		return nil, fmt.Errorf("app %q: want %s", name, AppNames)
	}
	return a, nil
}

// lighttpdConf serves ukbench's page. Debian's default config cannot run on
// OSv: it runs perl through include_shell and logs to /var/log, which a
// read-only root does not have. lighttpd 1.4.69 serves static files and
// index files from its core, so no module is loaded; errors go to the
// console; writev, not sendfile, sends the page.
var lighttpdConf = linuximage.LighttpdConf(`server.network-backend = "writev"`)

// checkPIE fails unless binary is a dynamically linked x86-64 PIE: OSv
// hangs on fully static Go programs.
func checkPIE(binary string) error {
	if binary == "" {
		return fmt.Errorf("%w: none given (make build-pie writes bin/ukbench-pie)", ErrNoPIE)
	}
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%w: %s: not an ELF file: %v", ErrAppBinary, binary, err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN || f.Section(".interp") == nil {
		return fmt.Errorf("%w: %s is not an externally linked PIE (ELF %v); OSv hangs on fully static Go programs: make build-pie writes bin/ukbench-pie", ErrAppBinary, binary, f.Type)
	}
	return nil
}

// PIEFor is the ukbench to put in OSv images for a ukbench binary: binary
// itself when it is an externally linked PIE, else ukbench-pie beside it
// (make build writes bin/ukbench and bin/ukbench-pie).
func PIEFor(binary string) (string, error) {
	if checkPIE(binary) == nil {
		return binary, nil
	}
	pie := filepath.Join(filepath.Dir(binary), "ukbench-pie")
	if _, err := os.Stat(pie); err != nil {
		return "", fmt.Errorf("%w: %s is not one (OSv hangs on fully static Go programs) and there is no %s: make build-pie, or give one (--binary)", ErrNoPIE, binary, pie)
	}
	return pie, checkPIE(pie)
}

// DefaultPIE is PIEFor the running executable.
func DefaultPIE() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return PIEFor(exe)
}

// Cmdline is OSv's command line for the application: its root file system
// options, then the program.
func cmdline(command []string) string {
	return "--rootfs=rofs " + strings.Join(command, " ")
}
