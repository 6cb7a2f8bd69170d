package testbin

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The fake guest: a test binary that calls FakeGuestMain first in its
// TestMain runs as a QEMU whose guest boots at once and serves HTTP on
// the forwarded port, so that a campaign reaches its sweep in
// milliseconds with no VM at all. It speaks enough QMP for ukbench
// (greeting, capabilities, query-status) and keeps, in its directory,
// the files a test waits on.
const (
	// FakeGuestReady is the console line the fake guest prints once it
	// serves: a target's ready_line.
	FakeGuestReady = "fake guest: ready"
	// FakeGuestPIDs is the file in the fake's directory that each start
	// appends its PID to, one a line.
	FakeGuestPIDs = "pids"
	// FakeGuestQuit is the file in the fake's directory written when QMP
	// quit (or system_powerdown) arrives, whether or not it obeys.
	FakeGuestQuit = "quit"

	envFakeGuest    = "UKBENCH_TESTBIN_FAKE_GUEST"
	envFakeGuestDir = "UKBENCH_TESTBIN_FAKE_GUEST_DIR"
)

// FakeGuestMode says how the fake guest takes QMP quit.
type FakeGuestMode string

const (
	// FakeGuestObeys exits on quit or system_powerdown, as QEMU does.
	FakeGuestObeys FakeGuestMode = "obeys"
	// FakeGuestIgnoresQuit answers quit and system_powerdown and goes on
	// running: a hung QEMU, which ukbench's shutdown waits on (10 s)
	// before SIGKILL.
	FakeGuestIgnoresQuit FakeGuestMode = "ignores-quit"
)

// FakeGuestQEMU writes a qemu-system-x86_64 into a test directory that
// runs this test binary as the fake guest in mode, and returns its path
// (a config's vm.qemu) and the fake's directory (see FakeGuestPIDs,
// FakeGuestQuit). The test binary's TestMain must call FakeGuestMain.
func FakeGuestQEMU(t testing.TB, mode FakeGuestMode) (qemu, dir string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	qemu = filepath.Join(t.TempDir(), "qemu-system-x86_64")
	script := fmt.Sprintf("#!/bin/sh\n%s=%s %s=%s exec %s \"$@\"\n", envFakeGuest, mode, envFakeGuestDir, shellQuote(dir), shellQuote(exe))
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return qemu, dir
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// FakeGuestMain runs the fake guest and exits when the environment asks
// for it (FakeGuestQEMU's script), and returns at once otherwise: call it
// first in TestMain.
func FakeGuestMain() {
	mode := os.Getenv(envFakeGuest)
	if mode == "" {
		return
	}
	os.Exit(fakeGuest(FakeGuestMode(mode), os.Getenv(envFakeGuestDir), os.Args[1:]))
}

// hostfwdTCP finds the host port of a user-network TCP forward.
var hostfwdTCP = regexp.MustCompile(`hostfwd=tcp:127\.0\.0\.1:([0-9]+)-:`)

func fakeGuest(mode FakeGuestMode, dir string, args []string) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println("QEMU emulator version 8.2.2 (ukbench fake guest)")
		return 0
	}
	f, err := os.OpenFile(filepath.Join(dir, FakeGuestPIDs), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		fmt.Fprintln(f, os.Getpid())
		f.Close()
	}
	var sock, port string
	for i, a := range args {
		if a == "-qmp" && i+1 < len(args) {
			sock = strings.TrimPrefix(strings.Split(args[i+1], ",")[0], "unix:")
		}
		if m := hostfwdTCP.FindStringSubmatch(a); m != nil {
			port = m[1]
		}
	}
	if sock == "" || port == "" {
		fmt.Fprintf(os.Stderr, "fake guest: want -qmp unix:PATH and a tcp hostfwd, got %q\n", args)
		return 1
	}
	qmp, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake guest:", err)
		return 1
	}
	web, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake guest:", err)
		return 1
	}
	go http.Serve(web, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len("fake\n")))
		w.Write([]byte("fake\n"))
	}))
	fmt.Println(FakeGuestReady)
	for {
		c, err := qmp.Accept()
		if err != nil {
			return 1
		}
		go fakeQMP(c, mode, dir)
	}
}

// fakeQMP answers one QMP connection.
func fakeQMP(c net.Conn, mode FakeGuestMode, dir string) {
	defer c.Close()
	fmt.Fprintln(c, `{"QMP":{"version":{"qemu":{"micro":2,"minor":2,"major":8}},"capabilities":[]}}`)
	dec := json.NewDecoder(c) // QMP is a stream of JSON values, not lines
	for {
		var cmd struct {
			Execute string `json:"execute"`
		}
		if dec.Decode(&cmd) != nil {
			return
		}
		switch cmd.Execute {
		case "query-status":
			fmt.Fprintln(c, `{"return":{"status":"running","singlestep":false,"running":true}}`)
		case "quit", "system_powerdown":
			os.WriteFile(filepath.Join(dir, FakeGuestQuit), []byte(cmd.Execute+"\n"), 0o644)
			fmt.Fprintln(c, `{"return":{}}`)
			if mode == FakeGuestObeys {
				os.Exit(0)
			}
		default:
			fmt.Fprintln(c, `{"return":{}}`)
		}
	}
}
