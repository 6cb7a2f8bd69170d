// Package guestinit is the init process (PID 1) of the Linux guests
// ukbench builds: it mounts the kernel file systems, loads the kernel
// modules the image lists, configures the network from the kernel command
// line and starts the benchmark server, printing what it does on the
// console. The image builder writes the Config it reads.
package guestinit

import (
	"fmt"
	"strconv"
	"strings"
)

// ConfigPath is where the image builder puts the init's Config.
const ConfigPath = "/ukbench/init.json"

// Config is what an image's init does. It is written as JSON at ConfigPath.
type Config struct {
	// Modules are the kernel modules to load, in dependency order, as paths
	// inside the image.
	Modules []string `json:"modules"`
	// Interface is the network interface to configure (default eth0).
	Interface string `json:"interface"`
	// Command is the server to start and its arguments (an argument
	// CPUsArg is replaced by the guest's CPU count); Dirs are created
	// before it starts.
	Command []string `json:"command"`
	Dirs    []string `json:"dirs,omitempty"`
	Env     []string `json:"env,omitempty"`
	// StartedLine, when set, is printed once the server has started, for
	// servers that print no readiness line of their own.
	StartedLine string `json:"started_line,omitempty"`
}

// CPUsArg, as an argument of Config.Command, stands for the number of
// CPUs the guest has (a server's worker threads), which the image does not
// know when it is built.
const CPUsArg = "{cpus}"

// ExpandCommand returns command with every CPUsArg replaced by cpus.
func ExpandCommand(command []string, cpus int) []string {
	out := make([]string, len(command))
	for i, a := range command {
		if a == CPUsArg {
			a = strconv.Itoa(cpus)
		}
		out[i] = a
	}
	return out
}

// Network is the guest's address, read from the kernel command line
// (ukbench.ip=ADDR/PREFIX ukbench.gw=ADDR).
type Network struct {
	CIDR    string // e.g. 10.0.2.15/24
	Gateway string // may be empty
}

// Cmdline returns the kernel command-line parameters that give a guest its
// network.
func (n Network) Cmdline() string {
	s := "ukbench.ip=" + n.CIDR
	if n.Gateway != "" {
		s += " ukbench.gw=" + n.Gateway
	}
	return s
}

// ParseCmdline reads the network parameters from a kernel command line.
func ParseCmdline(cmdline string) (Network, error) {
	var n Network
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "ukbench.ip":
			n.CIDR = v
		case "ukbench.gw":
			n.Gateway = v
		}
	}
	if n.CIDR == "" {
		return n, fmt.Errorf("kernel command line has no ukbench.ip=ADDR/PREFIX")
	}
	return n, nil
}
