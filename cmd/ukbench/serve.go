package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ukbench/ukbench/targets/servers"
)

const serveUsage = `Usage: ukbench serve dns|http [flags]

Runs a benchmark server until SIGTERM or Ctrl-C. It prints one line,
"` + servers.ReadyPrefix + ` KIND ADDR", once it listens.
`

// serveFlags are the flags of serve KIND; zone, origin and sockets are
// dns's, bodySize http's.
type serveFlags struct {
	listen                      string
	delay, stallAfter, stallFor time.Duration
	dropEvery                   uint64
	zone, origin                string
	sockets, bodySize           int
	printIt                     bool
}

// serveFlagSet returns the flag set of serve KIND and the flags it sets.
func serveFlagSet(kind servers.Protocol, stderr io.Writer) (*flag.FlagSet, *serveFlags) {
	var f serveFlags
	fs := newFlags("serve "+string(kind), serveUsage, stderr)
	fs.StringVar(&f.listen, "listen", defaultListen(kind), "address to listen on (HOST:PORT)")
	fs.DurationVar(&f.delay, "delay", 0, "fault: hold every answer this long")
	fs.Uint64Var(&f.dropEvery, "drop-every", 0, "fault: drop (dns) or fail with 503 (http) every Nth request; 0 never")
	fs.DurationVar(&f.stallAfter, "stall-after", 0, "fault: start a stall this long after the first request")
	fs.DurationVar(&f.stallFor, "stall-for", 0, "fault: hold every answer during a stall this long; 0 no stall")
	if kind == servers.DNS {
		fs.StringVar(&f.zone, "zone", "", "zone master file (default: a built-in example.com zone)")
		fs.StringVar(&f.origin, "origin", "", "origin for a zone file without $ORIGIN")
		fs.IntVar(&f.sockets, "sockets", servers.DefaultDNSSockets, "UDP sockets sharing the port (SO_REUSEPORT)")
		fs.BoolVar(&f.printIt, "print-zone", false, "print the built-in zone (for other servers to serve) and exit")
	} else {
		fs.IntVar(&f.bodySize, "body-size", servers.DefaultBodySize, "bytes served at /")
		fs.BoolVar(&f.printIt, "print-page", false, "print the page served at / (for other servers to serve) and exit")
	}
	return fs, &f
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f *serveFlags
	kind, args, err := parseKindFlags(args, serveUsage, servers.Protocols, func(k servers.Protocol) (fs *flag.FlagSet) {
		fs, f = serveFlagSet(k, stderr)
		return fs
	}, stdout)
	switch {
	case err != nil:
		return err
	case kind == "":
		fmt.Fprint(stderr, serveUsage)
		return usageError("serve: want dns or http")
	case len(args) > 0:
		return usageError("serve %s: unexpected argument %q", kind, args[0])
	}
	if f.printIt {
		if kind == servers.DNS {
			_, err := io.WriteString(stdout, servers.DefaultZone)
			return err
		}
		if f.bodySize <= 0 {
			return usageError("serve http: --body-size %d: want at least 1", f.bodySize)
		}
		_, err := stdout.Write(servers.Page(f.bodySize))
		return err
	}
	faults := servers.Faults{Delay: f.delay, DropEvery: f.dropEvery, StallAfter: f.stallAfter, StallFor: f.stallFor}
	if f.delay < 0 || f.stallAfter < 0 || f.stallFor < 0 {
		return usageError("serve %s: durations must not be negative", kind)
	}
	if kind == servers.DNS {
		z, err := servers.LoadZone(f.zone, f.origin)
		if err != nil {
			return err
		}
		s, err := servers.StartDNS(ctx, servers.DNSConfig{Listen: f.listen, Zone: z, Sockets: f.sockets, Faults: faults})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, servers.ReadyLine(string(servers.DNS), s.Addr, "zone", z.Origin))
		return waitServer(ctx, s.Wait)
	}
	s, err := servers.StartHTTP(ctx, servers.HTTPConfig{Listen: f.listen, BodySize: f.bodySize, Faults: faults})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, servers.ReadyLine(string(servers.HTTP), s.Addr))
	return waitServer(ctx, s.Wait)
}

// waitServer waits for a server that stops when ctx ends; a stop asked for
// by ctx is a clean exit.
func waitServer(ctx context.Context, wait func() error) error {
	err := wait()
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		return fmt.Errorf("server stopped unexpectedly")
	}
	return err
}

// The addresses `ukbench serve` listens on unless told, which `ukbench
// load` drives unless told.
const (
	serveDNSAddr  = "127.0.0.1:5353"
	serveHTTPAddr = "127.0.0.1:8080"
)

func defaultListen(kind servers.Protocol) string {
	if kind == servers.DNS {
		return serveDNSAddr
	}
	return serveHTTPAddr
}
