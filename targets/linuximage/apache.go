package linuximage

import (
	"context"
	"fmt"
	"strings"

	"github.com/ukbench/ukbench/targets/servers"
)

// apacheModules are the modules apacheConf loads (the rest of what it
// uses is built into Debian's apache2: core, unixd, log_config).
var apacheModules = []string{"mpm_event", "authz_core", "dir", "mime"}

// apacheModuleDir is where Debian's apache2 keeps its modules.
const apacheModuleDir = "/usr/lib/apache2/modules/"

// apacheLoadModules is apacheConf's LoadModule line for each of
// apacheModules, the files withApache copies.
func apacheLoadModules() string {
	var b strings.Builder
	for _, m := range apacheModules {
		fmt.Fprintf(&b, "LoadModule %s_module %smod_%s.so\n", m, apacheModuleDir, m)
	}
	return b.String()
}

// withApache adds the host's Apache (apache2) serving ukbench's page with
// apacheConf, in the foreground. Its workers run as www-data (Apache
// refuses to serve as root).
func (a *appFiles) withApache(ctx context.Context) error {
	if err := a.withHostApp(ctx, AppApache); err != nil {
		return err
	}
	for _, m := range apacheModules {
		if err := a.withModules(ctx, apacheModuleDir+"mod_"+m+".so"); err != nil {
			return err
		}
	}
	// Apache's threads exit through pthread_exit, for which glibc loads
	// libgcc_s at run time (a child aborts without it).
	if err := a.withLibcCompanion(ctx, "libgcc_s.so.1"); err != nil {
		return err
	}
	a.write("/etc/apache2/apache2.conf", apacheConf)
	a.write("/etc/apache2/mime.types", "text/html html\n")
	a.write("/var/www/index.html", string(servers.Page(servers.DefaultBodySize)))
	a.write("/etc/passwd", "root:x:0:0:root:/:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n")
	a.write("/etc/group", "root:x:0:\nwww-data:x:33:\n")
	a.write("/etc/nsswitch.conf", "passwd: files\ngroup: files\n")
	a.dirs = []string{"/run/apache2", "/var/lock/apache2"}
	a.command = []string{hostApps[AppApache].guestPath, "-D", "FOREGROUND", "-f", "/etc/apache2/apache2.conf"}
	a.started = StartedLine
	a.host.Config = apacheSettings
	return nil
}

// apacheSettings is what the provenance records of apacheConf.
const apacheSettings = "mpm_event: StartServers 2, ThreadsPerChild 25, ThreadLimit 64, MinSpareThreads 25, MaxSpareThreads 75, MaxRequestWorkers 150, MaxConnectionsPerChild 0; KeepAlive On, MaxKeepAliveRequests 0 (unlimited), KeepAliveTimeout 5; no access log"

// apacheConf serves /var/www/index.html (servers.Page, 612 bytes) with
// keep-alive on. The MPM is event, Debian's (and Ubuntu 14.04's Apache
// 2.4's) default, with the worker counts of Debian's mpm_event.conf, the
// same numbers Ubuntu 14.04 shipped: the study's Apache ran on those
// defaults. event, unlike prefork, serves idle keep-alive connections from
// its listener thread, so the 256 connections of a keep-alive sweep do not
// hold 256 workers. No access log: the other servers keep none.
var apacheConf = `ServerRoot "/etc/apache2"
ServerName localhost
DefaultRuntimeDir /run/apache2
PidFile /run/apache2/apache2.pid
Mutex file:/var/lock/apache2 default
` + apacheLoadModules() + `User www-data
Group www-data
Listen 80
Timeout 300
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
ErrorLog /dev/console
LogLevel warn
HostnameLookups Off
TypesConfig /etc/apache2/mime.types
DocumentRoot "/var/www"
DirectoryIndex index.html
<Directory "/var/www">
	Options None
	AllowOverride None
	Require all granted
</Directory>
`
