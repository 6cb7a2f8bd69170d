package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args       []string
		positional []string
		o          string
		x          bool
		n          int
	}{
		{[]string{"a", "-o", "out", "b"}, []string{"a", "b"}, "out", false, 0},
		{[]string{"-o=out", "a", "--n", "3"}, []string{"a"}, "out", false, 3},
		{[]string{"a", "b", "--o", "out"}, []string{"a", "b"}, "out", false, 0},
		// A boolean flag takes no value: the next argument is positional.
		{[]string{"-x", "a"}, []string{"a"}, "", true, 0},
		{[]string{"a", "--x=false", "b"}, []string{"a", "b"}, "", false, 0},
		{[]string{"-x=true", "a"}, []string{"a"}, "", true, 0},
		// "--" ends the flags; "-" is positional.
		{[]string{"a", "--", "-o", "b", "--"}, []string{"a", "-o", "b", "--"}, "", false, 0},
		{[]string{"-", "-o", "out"}, []string{"-"}, "out", false, 0},
		// A flag with a value takes the next argument, whatever it is.
		{[]string{"-o", "--", "a"}, []string{"a"}, "--", false, 0},
		{[]string{"-o", "-x", "a"}, []string{"a"}, "-x", false, 0},
		{nil, []string{}, "", false, 0},
	}
	for _, tt := range tests {
		fs := newFlags("test", "Usage: test\n", &bytes.Buffer{})
		o := fs.String("o", "", "output")
		x := fs.Bool("x", false, "a switch")
		n := fs.Int("n", 0, "a number")
		var stdout bytes.Buffer
		got, err := parseFlags(fs, tt.args, &stdout)
		if err != nil || !slices.Equal(got, tt.positional) || *o != tt.o || *x != tt.x || *n != tt.n || stdout.Len() > 0 {
			t.Errorf("%q: positional %q, -o %q, -x %v, -n %d, err %v, stdout %q; want %q, -o %q, -x %v, -n %d",
				tt.args, got, *o, *x, *n, err, stdout.String(), tt.positional, tt.o, tt.x, tt.n)
		}
	}
}

func TestParseFlagsErrorsAndHelp(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		err      error
		inStdout string // the help
		inStderr string // the error, then the usage and flags
	}{
		{[]string{"a", "-o"}, errUsage, "", "flag needs an argument: -o\nUsage: test\n\nFlags:\n  -o string"},
		{[]string{"-y", "a"}, errUsage, "", "flag provided but not defined: -y\nUsage: test"},
		{[]string{"a", "-x=maybe"}, errUsage, "", `invalid boolean value "maybe" for -x`},
		{[]string{"a", "-h"}, flag.ErrHelp, "Usage: test\n\nFlags:\n  -o string\n    \toutput\n  -x\ta switch\n", ""},
		{[]string{"--help", "-y"}, flag.ErrHelp, "Usage: test\n\nFlags:\n", ""},
	} {
		var stdout, stderr bytes.Buffer
		fs := newFlags("test", "Usage: test\n", &stderr)
		fs.String("o", "", "output")
		fs.Bool("x", false, "a switch")
		_, err := parseFlags(fs, tt.args, &stdout)
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.args, err, tt.err)
		}
		if tt.inStdout == "" && stdout.Len() > 0 || !strings.Contains(stdout.String(), tt.inStdout) {
			t.Errorf("%q: stdout %q, want %q in it", tt.args, stdout.String(), tt.inStdout)
		}
		if tt.inStderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.inStderr) {
			t.Errorf("%q: stderr %q, want %q in it", tt.args, stderr.String(), tt.inStderr)
		}
	}
}

// Every command's -h and --help print its usage and flags to stdout and
// exit 0.
func TestCLIHelp(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		flags []string // some of the flags the help lists
	}{
		{[]string{"serve"}, []string{"Flags of serve dns:", "-zone", "Flags of serve http:", "-body-size"}},
		{[]string{"serve", "dns"}, []string{"-zone", "-listen"}},
		{[]string{"serve", "http"}, []string{"-body-size", "-listen"}},
		{[]string{"load"}, []string{"Flags of load dns:", "-server", "Flags of load http:", "-url", "-rates"}},
		{[]string{"load", "dns"}, []string{"-server", "-rates"}},
		{[]string{"load", "http"}, []string{"-url", "-rates"}},
		{[]string{"run"}, []string{"-dry-run", "-resume", "-o"}},
		{[]string{"image"}, []string{"-app", "-kernel-root"}},
		{[]string{"image", "linux"}, []string{"-app", "-kernel-root"}},
		{[]string{"image", "osv"}, []string{"-kernel", "-bootstrap", "-binary"}},
		{[]string{"boot"}, []string{"-runs", "-out"}},
		{[]string{"boot", "native:dns"}, []string{"-runs", "-out"}},
		{[]string{"compare"}, []string{"-metric", "-threshold", "-markdown"}},
		{[]string{"export"}, []string{"-format"}},
		{[]string{"report"}, []string{"-o", "-format"}},
	} {
		for _, h := range []string{"-h", "--help"} {
			args := append(slices.Clone(tt.args), h)
			stdout, stderr, code := runCLI(context.Background(), args...)
			usage := "Usage: ukbench " + tt.args[0] + " "
			if code != 0 || stderr != "" || !strings.HasPrefix(stdout, usage) || !strings.Contains(stdout, "Flags") {
				t.Errorf("%q: exit %d, stderr %q, stdout:\n%s\nwant exit 0, nothing on stderr, %q and the flags on stdout", args, code, stderr, stdout, usage)
				continue
			}
			for _, f := range tt.flags {
				if !strings.Contains(stdout, "\n"+f) && !strings.Contains(stdout, "  "+f+" ") && !strings.Contains(stdout, "  "+f+"\n") {
					t.Errorf("%q: help does not list %s:\n%s", args, f, stdout)
				}
			}
		}
	}
	// -h is help wherever it is among the arguments.
	for _, args := range [][]string{{"boot", "-h", "native:dns"}, {"report", "DIR", "-o", "OUT", "-h"}, {"load", "-h", "dns"}} {
		if stdout, stderr, code := runCLI(context.Background(), args...); code != 0 || stderr != "" || !strings.Contains(stdout, "Flags:") {
			t.Errorf("%q: exit %d, stderr %q, stdout:\n%s", args, code, stderr, stdout)
		}
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"boot-help", []string{"boot", "-h"}},
		{"report-help", []string{"report", "--help"}},
		{"load-help", []string{"load", "-h"}},
		{"agent-help", []string{"agent", "-h"}},
	} {
		stdout, stderr, _ := runCLI(context.Background(), tt.args...)
		golden(t, tt.name, "stdout:\n"+stdout+"stderr:\n"+stderr)
	}
}

// Flags after the positional arguments, or between them, mean what they
// mean before them.
func TestCLIFlagsAnywhere(t *testing.T) {
	dir := filepath.Join("testdata", "compare")
	for _, tt := range []struct {
		code  int
		forms [][]string
	}{
		{1, [][]string{
			{"compare", "--metric", "max_rps,boot_", dir + "/base", dir + "/slower"},
			{"compare", dir + "/base", dir + "/slower", "--metric", "max_rps,boot_"},
			{"compare", dir + "/base", "--metric=max_rps,boot_", dir + "/slower"},
		}},
		{0, [][]string{
			{"compare", "--base-target", "linux", "--new-target", "osv", dir + "/pair"},
			{"compare", dir + "/pair", "--base-target", "linux", "--new-target=osv"},
		}},
		{0, [][]string{
			{"export", "--format", "bmf", dir + "/slower"},
			{"export", dir + "/slower", "--format", "bmf"},
		}},
		{0, [][]string{
			{"run", "testdata/run/native.yaml", "--dry-run", "-o", "OUT"},
			{"run", "--dry-run", "-o", "OUT", "testdata/run/native.yaml"},
			{"run", "-o", "OUT", "testdata/run/native.yaml", "--dry-run=true"},
		}},
		{0, [][]string{
			{"serve", "http", "--print-page", "--body-size", "700"},
			{"serve", "--print-page", "--body-size", "700", "http"},
			{"serve", "--body-size=700", "http", "--print-page"},
		}},
		{2, [][]string{
			{"boot", "native:dns", "--runs", "0"},
			{"boot", "--runs", "0", "native:dns"},
		}},
		{2, [][]string{
			{"load", "dns", "--rates", "1000:500:100"},
			{"load", "--rates", "1000:500:100", "dns"},
			{"load", "--target", "http", "--rates=1000:500:100", "dns"},
		}},
		{2, [][]string{
			{"image", "linux", "--app", "dns"},
			{"image", "--app", "dns", "linux"},
		}},
	} {
		first, firstErr, code := runCLI(context.Background(), tt.forms[0]...)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d\n%s%s", tt.forms[0], code, tt.code, first, firstErr)
		}
		for _, args := range tt.forms[1:] {
			stdout, stderr, code := runCLI(context.Background(), args...)
			if code != tt.code || stdout != first || stderr != firstErr {
				t.Errorf("%q: exit %d\n%s%s\nwant exit %d and what %q gives:\n%s%s", args, code, stdout, stderr, tt.code, tt.forms[0], first, firstErr)
			}
		}
	}
}

// The README's own form, report DIR -o OUT, writes to OUT.
func TestCLIReportOutputAfterDir(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := runCLI(context.Background(), "report", filepath.Join("testdata", "compare", "pair"), "-o", out, "--format", "svg")
	if code != 0 || !strings.HasPrefix(stdout, "report: "+filepath.Join(out, "report.md")+" (") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{"report.md", "results.csv", "dns-throughput.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join("testdata", "compare", "pair", "report")); err == nil {
		t.Errorf("report wrote into testdata/compare/pair/report, not -o")
	}
}

// After "--", an argument starting with - is positional.
func TestCLIDoubleDashEndsFlags(t *testing.T) {
	pair, err := filepath.Abs(filepath.Join("testdata", "compare", "pair"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(pair, "runs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var outputs [2]string
	t.Run("cwd", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if err := os.Mkdir("-pair", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("-pair", "runs.jsonl"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		for i, args := range [][]string{
			{"export", "--format", "gobench", "--", "-pair"},
			{"export", "--format", "gobench", "-pair"},
		} {
			stdout, stderr, code := runCLI(context.Background(), args...)
			outputs[i] = "stdout:\n" + stdout + "stderr:\n" + stderr
			if want := []int{0, 2}[i]; code != want {
				t.Errorf("%q: exit %d, want %d\n%s", args, code, want, outputs[i])
			}
		}
		// Positional arguments before the flags and after "--".
		stdout, stderr, code := runCLI(context.Background(), "report", pair, "-o", "out", "--format", "svg", "--", "-pair")
		if code != 0 || !strings.HasPrefix(stdout, "report: out/report.md") {
			t.Fatalf("report DIR -o out -- -pair: exit %d\n%s%s", code, stdout, stderr)
		}
		md, err := os.ReadFile(filepath.Join("out", "report.md"))
		if err != nil || !strings.Contains(string(md), pair) || !strings.Contains(string(md), "`-pair`") {
			t.Errorf("report.md does not name both sources %s and -pair (%v):\n%s", pair, err, md)
		}
	})
	golden(t, "export-double-dash", outputs[0])
	golden(t, "export-dash-arg", outputs[1])
	if !strings.Contains(outputs[0], "Benchmark") {
		t.Errorf("export -- -pair wrote no benchmark lines:\n%s", outputs[0])
	}
}
