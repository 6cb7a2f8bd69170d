package linuximage

import (
	"context"

	"github.com/ukbench/ukbench/targets/guestinit"
	"github.com/ukbench/ukbench/targets/servers"
)

// withBind adds the host's BIND (named) serving ukbench's zone,
// authoritative only: the config bindConf, the zone servers.DefaultZone,
// named in the foreground (-g: logs on the console) with as many worker
// threads as the guest has vCPUs (-n, filled in by the guest's init).
func (a *appFiles) withBind(ctx context.Context) error {
	if err := a.withHostApp(ctx, AppBind); err != nil {
		return err
	}
	a.write("/etc/bind/named.conf", bindConf)
	a.write("/etc/bind/example.com.zone", servers.DefaultZone)
	a.write("/etc/passwd", "root:x:0:0:root:/:/bin/sh\n")
	a.write("/etc/group", "root:x:0:\n")
	a.dirs = []string{"/var/cache/bind", "/run/named"}
	a.command = []string{hostApps[AppBind].guestPath, "-g", "-4", "-c", "/etc/bind/named.conf", "-n", guestinit.CPUsArg}
	a.started = StartedLine
	a.host.Config = bindSettings
	return nil
}

// bindSettings is what the provenance records of bindConf.
const bindSettings = "named -g -n <vCPUs>: authoritative only (recursion no), no response rate limiting, minimal-responses yes, DNSSEC validation off"

// bindConf makes named an authoritative-only server of ukbench's zone:
// no recursion, no cache for others, no rate limiting (no rate-limit
// clause), no rndc channel, no notifies. minimal-responses keeps answers
// to the answer section, as ukbench's own server and NSD give them, so
// every DNS app sends the same bytes for a question.
const bindConf = `options {
	directory "/var/cache/bind";
	pid-file "/run/named/named.pid";
	listen-on port 53 { any; };
	listen-on-v6 { none; };
	recursion no;
	allow-query { any; };
	allow-query-cache { none; };
	allow-transfer { none; };
	dnssec-validation no;
	minimal-responses yes;
	notify no;
	querylog no;
};
controls { };
zone "example.com" {
	type primary;
	file "/etc/bind/example.com.zone";
};
`
