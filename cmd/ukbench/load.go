package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ukbench/ukbench/agent"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/report"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets/servers"
)

const loadUsage = `Usage: ukbench load dns --server HOST:PORT [flags]
       ukbench load http --url http://HOST:PORT/PATH [flags]

Drives open-loop load at a running server, one step per offered rate, and
prints a row per step. Latency runs from each request's intended send time.
Rates: "1000,2000", "1000:40000:1000" (start:stop:step) or
"1000:100000x1.25" (geometric).
`

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// loadFlags are the flags of load dns and load http: most are both's.
type loadFlags struct {
	rates, arrivals, out, histDir string
	step, warmup, timeout         time.Duration
	sloP99, lateAfter, slack      time.Duration
	timerProbe                    time.Duration
	maxLoss, maxLate, minAchieved float64
	seed                          uint64
	findMax                       bool
	bisect, retries               int
	quiet                         bool

	target                     string
	server, transport, queries string     // dns
	sockets                    int        // dns
	urlS, method, body         string     // http
	conns, threads             int        // http
	expectStatus, expectBody   int        // http
	newConn                    bool       // http
	headers                    stringList // http
	headerFile                 string     // http
	agents                     agentFlags
}

// loadFlagSet returns the flag set of load KIND and the flags it sets.
func loadFlagSet(kind servers.Protocol, stderr io.Writer) (*flag.FlagSet, *loadFlags) {
	fs := newFlags("load "+string(kind), loadUsage, stderr)
	var f loadFlags
	fs.StringVar(&f.target, "target", "external", "target name written into the run record")
	if kind == servers.DNS {
		fs.StringVar(&f.server, "server", serveDNSAddr, "DNS server address (HOST:PORT)")
		fs.StringVar(&f.transport, "transport", loadgen.DefaultDNSTransport, "udp, or tcp: pipelined queries on persistent connections (RFC 7766)")
		fs.IntVar(&f.sockets, "sockets", loadgen.DefaultDNSSockets, "UDP sockets or TCP connections, each with its own loop")
		fs.StringVar(&f.queries, "queries", "", "dnsperf-format query file, one \"name TYPE\" a line (default: names of the built-in zone)")
	} else {
		fs.StringVar(&f.urlS, "url", "http://"+serveHTTPAddr+"/", "URL to request")
		fs.IntVar(&f.conns, "connections", loadgen.DefaultConnections, "connections (workers), divided among the threads")
		fs.IntVar(&f.threads, "threads", 0, fmt.Sprintf("event loops, each on its own OS thread with its share of the schedule and of the connections (https: pacers); 0: one per %d connections", loadgen.ConnsPerThread))
		fs.BoolVar(&f.newConn, "new-connection", false, "one TCP connection per request (httperf style)")
		fs.StringVar(&f.method, "method", "GET", "request method")
		fs.Var(&f.headers, "header", "request header \"Name: value\" (repeatable)")
		fs.StringVar(&f.headerFile, "header-file", "", "file of request headers, one \"Name: value\" a line (# comments), sent after the --header ones")
		fs.StringVar(&f.body, "body", "", "request body")
		fs.IntVar(&f.expectStatus, "expect-status", 0, "only this status is a good answer (default: any 2xx)")
		fs.IntVar(&f.expectBody, "expect-body-size", 0, "only a body of this many bytes is a good answer (0: any)")
	}
	f.register(fs)
	return fs, &f
}

// register registers the flags both generators share.
func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.rates, "rates", loadgen.DefaultRates, "offered rates in requests/s")
	fs.DurationVar(&f.step, "step", loadgen.DefaultStep, "measured window per rate")
	fs.DurationVar(&f.warmup, "warmup", loadgen.DefaultWarmup, "discarded lead-in per rate")
	fs.StringVar(&f.arrivals, "arrivals", string(loadgen.Constant), "inter-arrival times: constant or poisson")
	fs.Uint64Var(&f.seed, "seed", loadgen.DefaultSeed, "seed for poisson arrivals")
	fs.DurationVar(&f.timeout, "timeout", loadgen.DefaultTimeout, "a request unanswered this long is lost")
	fs.BoolVar(&f.findMax, "find-max", false, "stop at the first unsustainable rate and bisect for the maximum")
	fs.IntVar(&f.bisect, "bisect", loadgen.DefaultBisectSteps, "bisection steps for --find-max")
	fs.IntVar(&f.retries, "retries", loadgen.DefaultRetries, "with --find-max, run an unsustainable listed rate again this many times before stopping there")
	fs.DurationVar(&f.sloP99, "slo-p99", loadgen.DefaultCriteria.SLOP99, "sustainable: p99 latency at most this (0: no SLO)")
	fs.Float64Var(&f.maxLoss, "max-loss", loadgen.DefaultCriteria.MaxLoss, "sustainable: at most this fraction lost")
	fs.Float64Var(&f.minAchieved, "min-achieved", loadgen.DefaultCriteria.MinAchieved, "sustainable: achieved/offered at least this")
	fs.DurationVar(&f.lateAfter, "late-after", loadgen.DefaultLimits.LateAfter, "a send this late after its intended time is late")
	fs.Float64Var(&f.maxLate, "max-late", loadgen.DefaultLimits.MaxLateFraction, "strict rule: a step with more late sends than this fraction is invalid (0: off; steps are judged by the load delivered, late sends count in latency)")
	fs.DurationVar(&f.slack, "timer-slack", loadgen.DefaultTimerSlack, "how late the kernel may wake a pacing thread (the http loop wakes twice this early and polls): less is more exact and costs more CPU")
	fs.DurationVar(&f.timerProbe, "timer-probe", 0, "first probe the host's timer wake-up delay on this process's CPUs for this long (0: no probe; ukbench run probes for "+loadgen.DefaultTimerProbe.String()+")")
	fs.StringVar(&f.out, "out", "", "write the run record (JSON, one line) to this file")
	fs.StringVar(&f.histDir, "hist", "", "write each step's latency histograms (HdrHistogram log) into this directory")
	fs.BoolVar(&f.quiet, "quiet", false, "no live progress line")
	f.agents.register(fs)
}

func (f *loadFlags) check() (loadgen.Arrivals, []float64, error) {
	a, err := loadgen.ParseArrivals(f.arrivals)
	if err != nil {
		return "", nil, usageError("--arrivals: %v", err)
	}
	rates, err := loadgen.ParseRates(f.rates)
	if err != nil {
		return "", nil, usageError("--rates: %v", err)
	}
	if err := loadgen.CheckStepLength(f.step); err != nil {
		return "", nil, usageError("--step: %v", err)
	}
	switch {
	case f.warmup < 0:
		return "", nil, usageError("--warmup %v: must not be negative", f.warmup)
	case f.timeout <= 0:
		return "", nil, usageError("--timeout %v: must be positive", f.timeout)
	case f.maxLoss < 0 || f.maxLoss > 1:
		return "", nil, usageError("--max-loss %g: want a fraction from 0 to 1", f.maxLoss)
	case f.maxLate < 0 || f.maxLate > 1:
		return "", nil, usageError("--max-late %g: want a fraction from 0 (off) to 1", f.maxLate)
	case f.minAchieved <= 0 || f.minAchieved > 1:
		return "", nil, usageError("--min-achieved %g: want a fraction above 0, at most 1", f.minAchieved)
	case f.sloP99 < 0:
		return "", nil, usageError("--slo-p99 %v: must not be negative", f.sloP99)
	case f.lateAfter <= 0:
		return "", nil, usageError("--late-after %v: must be positive", f.lateAfter)
	case f.slack <= 0 || f.slack > 10*time.Millisecond:
		return "", nil, usageError("--timer-slack %v: want above 0, at most 10ms", f.slack)
	case f.retries < 0:
		return "", nil, usageError("--retries %d: must not be negative", f.retries)
	case f.timerProbe < 0 || (f.timerProbe > 0 && f.timerProbe < loadgen.DefaultTimerProbeInterval):
		return "", nil, usageError("--timer-probe %v: want 0 (none) or at least %v", f.timerProbe, loadgen.DefaultTimerProbeInterval)
	case f.bisect < 0:
		return "", nil, usageError("--bisect %d: must not be negative", f.bisect)
	}
	return a, rates, nil
}

// checkKind checks the flags of one generator: counts whose 0 would mean
// nothing (the library would take it for its default), and what an HTTP
// request puts on the wire as it is (loadgen.CheckHTTPInput).
func (f *loadFlags) checkKind(kind servers.Protocol) error {
	if f.bisect == 0 {
		return usageError("--bisect 0: want 1 or more bisection steps (leave out --find-max for none)")
	}
	if kind == servers.DNS {
		if f.sockets < 1 || f.sockets > loadgen.MaxDNSSockets {
			return usageError("--sockets %d: want 1 to %d", f.sockets, loadgen.MaxDNSSockets)
		}
		if _, port, err := net.SplitHostPort(f.server); err == nil {
			if n, err := strconv.Atoi(port); err == nil && (n < 1 || n > 65535) {
				return usageError("--server %s: port %d: want 1 to 65535", f.server, n)
			}
		}
		return nil
	}
	if f.conns < 1 || f.conns > loadgen.MaxConnections {
		return usageError("--connections %d: want 1 to %d", f.conns, loadgen.MaxConnections)
	}
	if f.threads == 0 {
		f.threads = loadgen.DefaultThreads(f.conns)
	}
	if err := loadgen.CheckThreads(f.threads, f.conns); err != nil {
		return usageError("--threads: %v", err)
	}
	if f.headerFile != "" {
		h, err := loadgen.LoadHTTPHeaders(f.headerFile)
		if err != nil {
			return usageError("--header-file: %v", err)
		}
		f.headers = append(f.headers, h...)
	}
	if err := loadgen.CheckHTTPInput(f.urlS, f.method, f.headers); err != nil {
		return usageError("load %s: %v", kind, err)
	}
	return nil
}

func (f *loadFlags) limits() loadgen.Limits {
	return loadgen.Limits{LateAfter: f.lateAfter, MaxLateFraction: f.maxLate, TimerSlack: f.slack}
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var lf *loadFlags
	kind, err := parseKindFlags("load", args, loadUsage, servers.Protocols, func(k servers.Protocol) (fs *flag.FlagSet) {
		fs, lf = loadFlagSet(k, stderr)
		return fs
	}, stdout, stderr)
	if err != nil {
		return err
	}
	arrivals, rates, err := lf.check()
	if err != nil {
		return err
	}
	if err := lf.checkKind(kind); err != nil {
		return err
	}
	if err := lf.agents.check(); err != nil {
		return err
	}
	var gen loadgen.Generator
	var remote agent.Config // the same generator, on agents
	if kind == servers.DNS {
		var qs []loadgen.DNSQuery
		if lf.queries != "" {
			if qs, err = loadgen.LoadDNSQueries(lf.queries); err != nil {
				return usage(err) // bad input: exit 2
			}
		}
		dc := loadgen.DNSConfig{
			Server: lf.server, Transport: lf.transport, Sockets: lf.sockets, Queries: qs, Timeout: lf.timeout,
			Arrivals: arrivals, Seed: lf.seed, Limits: lf.limits(),
		}
		gen, err = loadgen.NewDNS(dc)
		remote.DNS = &dc
	} else {
		hc := loadgen.HTTPConfig{
			URL: lf.urlS, Method: lf.method, Headers: lf.headers, Body: []byte(lf.body), Connections: lf.conns, Threads: lf.threads,
			NewConnection: lf.newConn, Timeout: lf.timeout, ExpectStatus: lf.expectStatus, ExpectBodySize: lf.expectBody,
			Arrivals: arrivals, Seed: lf.seed, Limits: lf.limits(),
		}
		gen, err = loadgen.NewHTTP(hc)
		remote.HTTP = &hc
	}
	if err != nil {
		return usageError("load %s: %v", kind, err)
	}
	remote.TimerProbe = lf.timerProbe // with agents, their hosts' timers are the load's
	gen, closeAgents, err := lf.agents.generator(ctx, gen, remote)
	if err != nil {
		return err
	}
	defer closeAgents()
	if lf.histDir != "" {
		if err := os.MkdirAll(lf.histDir, 0o755); err != nil {
			return fmt.Errorf("--hist: %w", err)
		}
	}
	// The host's timers first, on the CPUs the generator will use (with
	// agents, each probed its own as it started: results.AgentInfo).
	var noise *results.TimerNoise
	if lf.timerProbe > 0 && len(lf.agents.agents) == 0 {
		n, err := loadgen.TimerProbe{Duration: lf.timerProbe, TimerSlack: lf.slack}.Run(ctx)
		if err != nil {
			return err
		}
		noise = &n
		fmt.Fprintln(stdout, n.String())
	}
	criteria := loadgen.Criteria{MinAchieved: lf.minAchieved, MaxLoss: lf.maxLoss, SLOP99: lf.sloP99}
	live := newLiveLine(stderr, lf.quiet)
	cfg := loadgen.SweepConfig{
		Rates: rates, Step: lf.step, Warmup: lf.warmup, Criteria: criteria,
		FindMax: lf.findMax, BisectSteps: lf.bisect, Retries: lf.retries, Progress: func(v loadgen.Live) { live.step("", v, "") },
	}
	info := loadgen.DescribeSweep(gen, cfg)
	over := ""
	if info.Transport != "" {
		over = " over " + info.Transport
	}
	threads := "threads"
	if info.Threads == 1 {
		threads = "thread"
	}
	fmt.Fprintf(stdout, "ukbench load %s → %s%s, %s arrivals, %d workers on %d %s, %v steps (+%v warm-up)\n",
		kind, info.Server, over, arrivals, info.Workers, info.Threads, threads, lf.step, lf.warmup)
	table := report.NewStepTable(stdout)
	cfg.OnStep = func(o loadgen.StepOutcome) {
		live.clear()
		table.Row(o.Step)
	}
	rec := results.Run{Target: lf.target, Workload: string(kind), Repeat: 1, Accel: results.AccelNone, Started: time.Now().UTC()}
	rec.TimerNoise = noise
	histErr, sweepErr := loadgen.RecordSweep(ctx, gen, cfg, lf.histDir, &rec)
	live.clear()
	rec.Ended = time.Now().UTC()
	if sweepErr != nil {
		rec.Error = sweepErr.Error()
	}
	fmt.Fprintln(stdout, maxLine(rec))
	if lf.out != "" {
		if err := writeRecord(lf.out, rec, stderr); err != nil {
			return errors.Join(sweepErr, err)
		}
	}
	if histErr != nil {
		return errors.Join(sweepErr, fmt.Errorf("--hist: %w", histErr))
	}
	if sweepErr != nil && loadgen.IsInterrupted(sweepErr) {
		return fmt.Errorf("interrupted after %d finished steps (kept)", len(rec.Steps))
	}
	return sweepErr
}

// maxLine sums up a run's sweep: its steps and its maximum sustainable
// rate (0: none), for `load` and `run` alike.
func maxLine(rec results.Run) string {
	switch {
	case len(rec.Steps) == 0:
		return "no step finished"
	case rec.MaxSustainableRPS == 0:
		return "max sustainable rate: none of the rates tried was sustainable"
	case !rec.MaxBounded():
		return fmt.Sprintf("max sustainable rate: ≥ %.0f/s (every rate tried was sustainable)", rec.MaxSustainableRPS)
	}
	return fmt.Sprintf("max sustainable rate: %.0f/s", rec.MaxSustainableRPS)
}

// writeRecord writes the run record as one JSON line (a valid runs.jsonl),
// readied by results.Writable: a value JSON cannot hold, or one a reader
// would refuse, makes its step invalid and the record's error say so
// (and a warning on stderr) rather than fail the write.
func writeRecord(path string, rec results.Run, stderr io.Writer) error {
	if err := results.Writable(&rec); err != nil {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
