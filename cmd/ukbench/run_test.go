package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/targets/servers"

	"github.com/ukbench/ukbench/results"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// runCLI runs the CLI and returns stdout, stderr and the exit code.
func runCLI(ctx context.Context, args ...string) (string, string, int) {
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	if err != nil {
		stderr.WriteString("ukbench: " + err.Error() + "\n")
	}
	return stdout.String(), stderr.String(), exitCode(err)
}

func TestCLIUsageAndBadInput(t *testing.T) {
	dir := t.TempDir()
	badQueries := filepath.Join(dir, "queries.txt")
	os.WriteFile(badQueries, []byte("# comment\nwww.example.com A\nmail.example.com NOTATYPE\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no-args", nil, 2},
		{"unknown-command", []string{"frobnicate"}, 2},
		{"help", []string{"help"}, 0},
		{"load-no-kind", []string{"load"}, 2},
		{"load-bad-rates", []string{"load", "dns", "--rates", "1000:500:100"}, 2},
		{"load-bad-agent", []string{"load", "dns", "--agent", "me@"}, 2},
		{"load-bad-agent-cpus", []string{"load", "dns", "--agent", "me@host", "--agent-cpus", "3-1"}, 2},
		{"agent-stray-arg", []string{"agent", "now"}, 2},
		{"load-bad-arrivals", []string{"load", "dns", "--arrivals", "bursty"}, 2},
		{"load-bad-server", []string{"load", "dns", "--server", "localhost"}, 2},
		{"load-bad-url", []string{"load", "http", "--url", "ftp://example/"}, 2},
		{"load-bad-header", []string{"load", "http", "--header", "NoColon"}, 2},
		{"load-bad-body-size", []string{"load", "http", "--expect-body-size", "-1"}, 2},
		// What goes onto the wire as it is must be what RFC 9110 allows.
		{"load-header-injection", []string{"load", "http", "--header", "X-A: 1\r\nX-Injected: 2"}, 2},
		{"load-header-bad-name", []string{"load", "http", "--header", "X A: 1"}, 2},
		{"load-bad-method", []string{"load", "http", "--method", "GE T"}, 2},
		{"load-url-port-0", []string{"load", "http", "--url", "http://127.0.0.1:0/"}, 2},
		{"load-url-port-99999", []string{"load", "http", "--url", "http://127.0.0.1:99999/"}, 2},
		{"load-zero-connections", []string{"load", "http", "--connections", "0"}, 2},
		{"load-too-many-threads", []string{"load", "http", "--threads", "257"}, 2},
		{"load-threads-over-connections", []string{"load", "http", "--connections", "2", "--threads", "3"}, 2},
		{"load-zero-sockets", []string{"load", "dns", "--sockets", "0"}, 2},
		{"load-server-port-0", []string{"load", "dns", "--server", "127.0.0.1:0"}, 2},
		{"load-zero-bisect", []string{"load", "dns", "--find-max", "--bisect", "0"}, 2},
		{"load-bad-flag", []string{"load", "dns", "--step", "soon"}, 2},
		{"load-step-too-short", []string{"load", "dns", "--step", "1ns"}, 2},
		{"load-stray-arg", []string{"load", "dns", "extra"}, 2},
		{"serve-bad-kind", []string{"serve", "smtp"}, 2},
		{"serve-bad-zone", []string{"serve", "dns", "--zone", "/nonexistent/example.zone"}, 1},
		{"serve-print-zone", []string{"serve", "dns", "--print-zone"}, 0},
		{"run-no-config", []string{"run"}, 2},
		{"run-bad-config", []string{"run", "testdata/run/bad.yaml"}, 2},
		{"run-missing-config", []string{"run", "testdata/run/none.yaml"}, 1},
		{"run-dry-run-native", []string{"run", "testdata/run/native.yaml", "--dry-run", "-o", "OUT"}, 0},
		{"boot-no-target", []string{"boot"}, 2},
		{"boot-bad-target", []string{"boot", "xen:dns"}, 2},
		{"boot-bad-runs", []string{"boot", "native:dns", "--runs", "0"}, 2},
		{"boot-bad-target-file", []string{"boot", "testdata/boot/bad-target.yaml"}, 2},
		{"image-no-kind", []string{"image"}, 2},
		{"image-no-output", []string{"image", "linux", "--app", "dns"}, 2},
		{"image-osv-no-kernel", []string{"image", "osv", "--app", "http", "-o", "OUT"}, 2},
		{"image-osv-not-a-kernel", []string{"image", "osv", "--kernel", "testdata/run/native.yaml", "--app", "http", "-o", "OUT"}, 2},
		{"image-osv-linux-flag", []string{"image", "osv", "--kernel-root", "/k", "-o", "OUT"}, 2},
		// Refused before anything is fetched or built.
		{"image-linux-bad-app", []string{"image", "linux", "--app", "bogus", "-o", "OUT"}, 2},
		{"image-osv-bad-app", []string{"image", "osv", "--app", "bogus", "--kernel", "testdata/run/native.yaml", "-o", "OUT"}, 2},
		{"image-kernel-package-not-a-kernel", []string{"image", "linux", "--kernel-package", "bash", "-o", "OUT"}, 2},
		{"image-kernel-package-option", []string{"image", "linux", "--kernel-package", "-o=APT::Get::Foo", "-o", "OUT"}, 2},
		{"image-kernel-package-dbg", []string{"image", "linux", "--kernel-package", "linux-image-6.1.0-18-amd64-dbg", "-o", "OUT"}, 2},
		{"image-sockets-negative", []string{"image", "linux", "--sockets", "-5", "-o", "OUT"}, 2},
		{"image-sockets-0", []string{"image", "osv", "--sockets", "0", "--kernel", "testdata/run/native.yaml", "-o", "OUT"}, 2},
		{"image-sockets-over", []string{"image", "linux", "--sockets", "257", "-o", "OUT"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			// Native targets run this executable: name it stably.
			exe, _ := os.Executable()
			stdout = strings.ReplaceAll(stdout, exe, "UKBENCH")
			golden(t, tt.name, "stdout:\n"+stdout+"stderr:\n"+stderr)
		})
	}
	// The printed page is exactly what the server serves.
	page, _, code := runCLI(context.Background(), "serve", "http", "--print-page", "--body-size", "700")
	if code != 0 || len(page) != 700 || !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Errorf("serve http --print-page --body-size 700: exit %d, %d bytes", code, len(page))
	}
	// The query-file error names the file and the line.
	_, stderr, code := runCLI(context.Background(), "load", "dns", "--queries", badQueries, "--rates", "10", "--step", "1s")
	if code != 2 || !strings.Contains(stderr, badQueries+":3:") || !strings.Contains(stderr, "NOTATYPE") {
		t.Errorf("bad query file: exit %d, stderr %q; want 2, file:3 and the bad type named", code, stderr)
	}
	// So does a header file's, before any request, with the usage status;
	// a FIFO is refused at once, not waited on.
	badHeaders := filepath.Join(dir, "headers.txt")
	os.WriteFile(badHeaders, []byte("# auth\nAuthorization: Bearer x\nContent-Length: 5\n"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{{badHeaders, badHeaders + ":3:"}, {fifo, "not a regular file"}} {
		_, stderr, code = runCLI(context.Background(), "load", "http", "--header-file", tc.file, "--rates", "10", "--step", "1s")
		if code != 2 || !strings.Contains(stderr, "--header-file") || !strings.Contains(stderr, tc.want) {
			t.Errorf("--header-file %s: exit %d, stderr %q; want 2 and %q", tc.file, code, stderr, tc.want)
		}
	}
	if _, stderr, code = runCLI(context.Background(), "load", "dns", "--queries", fifo, "--rates", "10", "--step", "1s"); code != 2 || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("--queries FIFO: exit %d, stderr %q; want 2, refused as not a regular file", code, stderr)
	}
}

func serveInBackground(t *testing.T, args ...string) (addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("serve still running 5 s after cancel")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no readiness line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	fields := strings.Fields(strings.TrimPrefix(line, servers.ReadyPrefix))
	if !strings.HasPrefix(line, servers.ReadyPrefix) || len(fields) < 2 {
		t.Fatalf("readiness line %q, want %q KIND ADDR", line, servers.ReadyPrefix)
	}
	return fields[1]
}

func TestCLILoadWritesRunRecord(t *testing.T) {
	for _, variant := range []string{"dns", "dns-tcp", "http", "http-threads"} {
		t.Run(variant, func(t *testing.T) {
			kind, transport, _ := strings.Cut(variant, "-")
			threads := 0 // the default: 1 for http, one per socket for dns
			if transport == "threads" {
				transport, threads = "", 2
			}
			addr := serveInBackground(t, "serve", kind, "--listen", "127.0.0.1:0")
			dir := t.TempDir()
			out := filepath.Join(dir, "run.json")
			target := []string{"--server", addr}
			if transport != "" {
				target = append(target, "--transport", transport)
			}
			if kind == "http" {
				target = []string{"--url", "http://" + addr + "/", "--connections", "4"}
				if threads != 0 {
					target = append(target, "--threads", strconv.Itoa(threads))
				}
			}
			args := append([]string{"load", kind, "--rates", "100,200", "--step", "500ms", "--warmup", "100ms",
				"--out", out, "--hist", filepath.Join(dir, "hist"), "--timer-probe", "100ms"}, target...)
			stdout, stderr, code := runCLI(context.Background(), args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			// A step that missed a criterion (a loaded machine can make one
			// late) gets a line saying why, and the first generator-limited
			// latency one saying what its mark means; the rows are the rest.
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
				if l := strings.TrimSpace(l); !strings.HasPrefix(l, "↳") && !strings.HasPrefix(l, "* generator-limited") {
					lines = append(lines, l)
				}
			}
			// The timer probe's line comes first.
			if len(lines) > 0 && strings.HasPrefix(lines[0], "host timers on CPUs ") {
				lines = lines[1:]
			} else {
				t.Errorf("stdout:\n%s\nwant the timer probe's line first", stdout)
			}
			if len(lines) != 5 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "offered/s") ||
				!strings.HasPrefix(strings.TrimSpace(lines[2]), "100 ") || !strings.HasPrefix(lines[4], "max sustainable rate: ") {
				t.Errorf("stdout:\n%s\nwant a title, header, two rows and the max line", stdout)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var rec results.Run
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatalf("run record: %v\n%s", err, b)
			}
			if n := rec.TimerNoise; n == nil || n.Wakeups == 0 || n.DurationS != 0.1 {
				t.Errorf("run record timer_noise %+v, want the 100 ms probe's", n)
			}
			if kind == "dns" && (rec.Load.Transport != cmp.Or(transport, "udp") || !strings.Contains(lines[0], " over "+rec.Load.Transport+",")) {
				t.Errorf("transport %q in the record, title %q; want %q in both", rec.Load.Transport, lines[0], cmp.Or(transport, "udp"))
			}
			wantThreads := cmp.Or(threads, 1) // http's default
			if kind == "dns" {
				wantThreads = rec.Load.Workers // a thread per socket
			}
			if rec.Load.Threads != wantThreads || !strings.Contains(lines[0], fmt.Sprintf(" workers on %d thread", wantThreads)) {
				t.Errorf("threads %d in the record, title %q; want %d in both", rec.Load.Threads, lines[0], wantThreads)
			}
			if rec.Target != "external" || rec.Workload != kind || rec.Accel != "none" || len(rec.Steps) != 2 ||
				rec.Steps[1].Sent != 100 || rec.Steps[1].Answered == 0 || rec.Error != "" {
				t.Errorf("run record %+v", rec)
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "hist", "*.hlog"))
			if len(logs) != 2 {
				t.Errorf("histogram logs %v, want one per step", logs)
			}
		})
	}
}

func TestCLILoadInterruptedKeepsFinishedSteps(t *testing.T) {
	addr := serveInBackground(t, "serve", "dns", "--listen", "127.0.0.1:0")
	out := filepath.Join(t.TempDir(), "run.json")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"load", "dns", "--server", addr, "--rates", "100,100,100", "--step", "400ms", "--warmup", "0s", "--out", out}, &stdout, io.Discard)
	}()
	// Cancel once the first step's row is printed: poll the output the
	// CLI writes, bounded in time.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "\n      100") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("load did not stop within a second of Ctrl-C")
	}
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err = %v, want interrupted", err)
	}
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var rec results.Run
	json.Unmarshal(b, &rec)
	if len(rec.Steps) < 1 || rec.Error == "" {
		t.Errorf("record after Ctrl-C: %d steps, error %q; want the finished steps and the reason", len(rec.Steps), rec.Error)
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestCLICompare(t *testing.T) {
	dir := filepath.Join("testdata", "compare")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"compare-same", []string{dir + "/base", dir + "/same"}, 0},
		{"compare-slower", []string{dir + "/base", dir + "/slower"}, 1},
		{"compare-targets", []string{"--base-target", "linux", "--new-target", "osv", dir + "/pair"}, 0},
		{"compare-metric", []string{"--metric", "max_rps,boot_", dir + "/base", dir + "/slower"}, 1},
		{"compare-accel-mismatch", []string{dir + "/base", dir + "/kvm"}, 2},
		{"compare-broken", []string{dir + "/base", dir + "/broken"}, 2},
		{"compare-missing", []string{dir + "/base", dir + "/nonexistent"}, 2},
		{"compare-one-arg", []string{dir + "/base"}, 2},
		{"compare-vm-mismatch", []string{dir + "/base", dir + "/bigvm"}, 2},
		{"compare-vm-allowed", []string{"--allow-mismatch", "--metric", "max_rps", dir + "/base", dir + "/bigvm"}, 0},
		{"compare-unknown-metric", []string{"--metric", "bogus", dir + "/base", dir + "/slower"}, 2},
		{"compare-nothing-compared", []string{"--metric", "p99_us@12345", dir + "/base", dir + "/slower"}, 2},
		{"compare-missing-target", []string{"--base-target", "linux", "--new-target", "nope", dir + "/pair"}, 2},
	}
	for _, f := range []string{"gobench", "bmf"} {
		stdout, stderr, code := runCLI(context.Background(), "export", "--format", f, dir+"/slower")
		if code != 0 {
			t.Errorf("export %s: exit %d: %s", f, code, stderr)
		}
		golden(t, "export-"+f, stdout)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(context.Background(), append([]string{"compare"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			golden(t, tt.name, "stdout:\n"+stdout+"stderr:\n"+stderr)
		})
	}
	// --markdown and --json write the same verdict.
	out := t.TempDir()
	_, _, code := runCLI(context.Background(), "compare", "--markdown", out+"/c.md", "--json", out+"/c.json", dir+"/base", dir+"/slower")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	md, _ := os.ReadFile(out + "/c.md")
	js, _ := os.ReadFile(out + "/c.json")
	golden(t, "compare-slower-md", string(md))
	var v struct {
		Regressions int `json:"regressions"`
		Metrics     []struct {
			Metric  string `json:"metric"`
			Verdict string `json:"verdict"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatalf("json: %v\n%s", err, js)
	}
	if v.Regressions == 0 || len(v.Metrics) == 0 || v.Metrics[0].Metric != "max_rps" || v.Metrics[0].Verdict != "regression" {
		t.Errorf("json verdict %+v", v)
	}
}

func TestCLIReport(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := runCLI(context.Background(), "report", "-o", out, "--format", "svg", filepath.Join("testdata", "compare", "pair"))
	if code != 0 || !strings.HasPrefix(stdout, "report: "+filepath.Join(out, "report.md")) {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{"report.md", "results.csv", "dns-throughput.svg", "dns-latency.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, _, code := runCLI(context.Background(), "report", filepath.Join("testdata", "nonexistent")); code != 2 {
		t.Errorf("report of a missing directory: exit %d, want 2", code)
	}
	if _, stderr, code := runCLI(context.Background(), "report", "-o", t.TempDir(), "--format", "gif", filepath.Join("testdata", "compare", "pair")); code == 0 || !strings.Contains(stderr, `"gif"`) {
		t.Errorf("bad format: exit %d, %s", code, stderr)
	}
}
