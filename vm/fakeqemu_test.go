package vm

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// The test binary doubles as a fake QEMU: with UKBENCH_FAKE_QEMU set it
// serves QMP on the -qmp socket, prints console lines and behaves as the
// variable says: "ok" (quit exits), "ignore-quit" (quit is answered but
// ignored), "powerdown" (the guest powers off on system_powerdown) or
// "exit-early" (fails before QMP), "internal-error" (KVM gives up
// mid-boot: QEMU reports it and waits, the guest stopped); or as QEMU running the accelerator
// probe's guest: "probe-ok" (the marker, then isa-debug-exit's status),
// "probe-abort" (kvm_pvm's MSR abort), "probe-internal-error" (KVM gives
// up on the guest and QEMU stops it, as kvm_pvm does on the probe's
// cmpxchg16b), "probe-hang" (no progress) or "probe-no-marker" (exits 0
// having printed only SEABIOS's lines). Every
// run but --version appends a line to $UKBENCH_FAKE_QEMU_CALLS when set.
func TestMain(m *testing.M) {
	if mode := os.Getenv("UKBENCH_FAKE_QEMU"); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeQEMU(mode string, args []string) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println("QEMU emulator version 7.2.99 (fake)")
		return 0
	}
	if calls := os.Getenv("UKBENCH_FAKE_QEMU_CALLS"); calls != "" {
		f, err := os.OpenFile(calls, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintln(f, strings.Join(args, " "))
			f.Close()
		}
	}
	switch mode {
	case "probe-ok":
		fmt.Println("SeaBIOS (version fake)")
		fmt.Println(probeGuestMarker)
		return probeGuestExit
	case "probe-abort":
		fmt.Println("SeaBIOS (version fake)")
		fmt.Fprintln(os.Stderr, "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69")
		fmt.Fprintln(os.Stderr, "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.")
		// Die of SIGABRT as QEMU's failed assertion does (Go's runtime would
		// turn its own SIGABRT into exit status 2).
		syscall.Exec("/bin/sh", []string{"sh", "-c", "kill -ABRT $$"}, os.Environ())
		return 1
	case "probe-killed": // as if the OOM killer or a user's kill -9 ended it
		syscall.Exec("/bin/sh", []string{"sh", "-c", "kill -KILL $$"}, os.Environ())
		return 1
	case "probe-internal-error":
		// What QEMU 7.2 printed on a kvm_pvm host (the register dump cut
		// short); then it stops the guest and waits, as QEMU does.
		fmt.Println("SeaBIOS (version fake)")
		fmt.Print("Booting from Hard Disk..")
		fmt.Fprint(os.Stderr, "KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000001\nemulation failure\n")
		fmt.Fprint(os.Stderr, "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000\n")
		select {}
	case "probe-hang":
		fmt.Println("SeaBIOS (version fake)")
		fmt.Println("Booting from Hard Disk..")
		select {}
	case "probe-no-marker":
		fmt.Println("SeaBIOS (version fake)")
		return 0
	}
	var sock string
	for i, a := range args {
		if a == "-qmp" && i+1 < len(args) {
			sock = strings.TrimPrefix(strings.Split(args[i+1], ",")[0], "unix:")
		}
	}
	if mode == "exit-early" {
		fmt.Fprintln(os.Stderr, "qemu-system-x86_64: -kernel nope: could not open kernel file")
		return 1
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("fake guest: booting")
	if mode == "internal-error" {
		// KVM gives up mid-boot: QEMU says so on stderr, stops the guest
		// and keeps serving QMP.
		fmt.Fprint(os.Stderr, "KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000001\nemulation failure\nRAX=ffff888004840040\n")
	} else {
		fmt.Println("fake guest: ready")
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		go func(c net.Conn) {
			fmt.Fprintln(c, `{"QMP":{"version":{"qemu":{"micro":0,"minor":2,"major":7}},"capabilities":[]}}`)
			// QMP is a stream of JSON values, not lines: go-qemu sends
			// commands without a newline.
			dec := json.NewDecoder(c)
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
				case "system_powerdown":
					fmt.Fprintln(c, `{"return":{}}`)
					if mode == "powerdown" {
						fmt.Println("fake guest: powering off")
						os.Exit(0)
					}
				case "quit":
					fmt.Fprintln(c, `{"return":{}}`)
					if mode != "ignore-quit" {
						os.Exit(0)
					}
				default:
					fmt.Fprintln(c, `{"return":{}}`)
				}
			}
		}(c)
	}
}
