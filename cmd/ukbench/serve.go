package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ukbench/ukbench/targets/servers"
)

// readyPrefix starts the line a server prints once it listens; guest
// consoles are watched for it.
const readyPrefix = "ukbench serve: ready"

const serveUsage = `Usage: ukbench serve dns|http [flags]

Runs a benchmark server until SIGTERM or Ctrl-C. It prints one line,
"` + readyPrefix + ` KIND ADDR", once it listens.
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "dns" && args[0] != "http") {
		fmt.Fprint(stderr, serveUsage)
		return usageError("serve: want dns or http")
	}
	kind := args[0]
	fs := newFlags("serve "+kind, serveUsage, stderr)
	listen := fs.String("listen", defaultListen(kind), "address to listen on (HOST:PORT)")
	delay := fs.Duration("delay", 0, "fault: hold every answer this long")
	dropEvery := fs.Uint64("drop-every", 0, "fault: drop (dns) or fail with 503 (http) every Nth request; 0 never")
	stallAfter := fs.Duration("stall-after", 0, "fault: start a stall this long after the first request")
	stallFor := fs.Duration("stall-for", 0, "fault: hold every answer during a stall this long; 0 no stall")
	var zone, origin *string
	var sockets, bodySize *int
	var printIt *bool
	if kind == "dns" {
		zone = fs.String("zone", "", "zone master file (default: a built-in example.com zone)")
		origin = fs.String("origin", "", "origin for a zone file without $ORIGIN")
		sockets = fs.Int("sockets", 2, "UDP sockets sharing the port (SO_REUSEPORT)")
		printIt = fs.Bool("print-zone", false, "print the built-in zone (for other servers to serve) and exit")
	} else {
		bodySize = fs.Int("body-size", servers.DefaultBodySize, "bytes served at /")
		printIt = fs.Bool("print-page", false, "print the page served at / (for other servers to serve) and exit")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *printIt {
		if kind == "dns" {
			_, err := io.WriteString(stdout, servers.DefaultZone)
			return err
		}
		if *bodySize <= 0 {
			return usageError("serve http: --body-size %d: want at least 1", *bodySize)
		}
		_, err := stdout.Write(servers.Page(*bodySize))
		return err
	}
	faults := servers.Faults{Delay: *delay, DropEvery: *dropEvery, StallAfter: *stallAfter, StallFor: *stallFor}
	if *delay < 0 || *stallAfter < 0 || *stallFor < 0 {
		return usageError("serve %s: durations must not be negative", kind)
	}
	if kind == "dns" {
		z, err := servers.LoadZone(*zone, *origin)
		if err != nil {
			return err
		}
		s, err := servers.StartDNS(ctx, servers.DNSConfig{Listen: *listen, Zone: z, Sockets: *sockets, Faults: faults})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s dns %s zone %s\n", readyPrefix, s.Addr, z.Origin)
		return waitServer(ctx, s.Wait)
	}
	s, err := servers.StartHTTP(ctx, servers.HTTPConfig{Listen: *listen, BodySize: *bodySize, Faults: faults})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s http %s\n", readyPrefix, s.Addr)
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

func defaultListen(kind string) string {
	if kind == "dns" {
		return "127.0.0.1:5353"
	}
	return "127.0.0.1:8080"
}
