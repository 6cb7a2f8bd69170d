package vm

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

// The test binary doubles as a fake QEMU: with UKBENCH_FAKE_QEMU set it
// serves QMP on the -qmp socket, prints console lines and behaves as the
// variable says: "ok" (quit exits), "ignore-quit" (quit is answered but
// ignored), "powerdown" (the guest powers off on system_powerdown) or
// "exit-early" (fails before QMP).
func TestMain(m *testing.M) {
	if mode := os.Getenv("UKBENCH_FAKE_QEMU"); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeQEMU(mode string, args []string) int {
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
	fmt.Println("fake guest: ready")
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
