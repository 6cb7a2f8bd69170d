package guestinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Main is the whole init: it never returns normally. When the server exits
// (or a step fails) it powers the guest off, which ends QEMU (-no-reboot).
func Main(console io.Writer) {
	// run returns only when something ended the guest's purpose.
	fmt.Fprintf(console, "ukbench init: %v\n", run(console))
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	os.Exit(1) // not reached as PID 1
}

func run(console io.Writer) error {
	if err := mountKernelFS(); err != nil {
		return err
	}
	data, err := os.ReadFile(ConfigPath)
	if err != nil {
		return err
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", ConfigPath, err)
	}
	for _, m := range cfg.Modules {
		if err := loadModule(m); err != nil {
			return err
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	nw, err := ParseCmdline(string(cmdline))
	if err != nil {
		return err
	}
	ifname := cfg.Interface
	if ifname == "" {
		ifname = "eth0"
	}
	if err := configureNetwork(ifname, nw); err != nil {
		return err
	}
	fmt.Fprintf(console, "ukbench init: %s %s up\n", ifname, nw.CIDR)
	for _, d := range cfg.Dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if len(cfg.Command) == 0 {
		return fmt.Errorf("%s: no command", ConfigPath)
	}
	// Servers under load need more than the default 1024 descriptors
	// (lighttpd refuses max-connections above half its limit).
	lim := unix.Rlimit{Cur: 65536, Max: 65536}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(console, "ukbench init: raising the descriptor limit: %v\n", err)
	}
	command := ExpandCommand(cfg.Command, runtime.NumCPU())
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdout, cmd.Stderr = console, console
	cmd.Env = append([]string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/"}, cfg.Env...)
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	if err := cmd.Start(); err != nil {
		return err
	}
	if cfg.StartedLine != "" {
		fmt.Fprintln(console, cfg.StartedLine)
	}
	err = cmd.Wait()
	return fmt.Errorf("%s exited: %v", filepath.Base(cfg.Command[0]), err)
}

func mountKernelFS() error {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tmpfs", "/run", "tmpfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", filepath.Base(path), err)
	}
	return nil
}

func configureNetwork(ifname string, nw Network) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	// The NIC appears when its driver has probed it, which module loading
	// has finished by now on every machine we know; wait a little anyway.
	var link netlink.Link
	deadline := time.Now().Add(10 * time.Second)
	for {
		link, err = netlink.LinkByName(ifname)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", ifname, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr, err := netlink.ParseAddr(nw.CIDR)
	if err != nil {
		return fmt.Errorf("ukbench.ip=%s: %w", nw.CIDR, err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("%s: address %s: %w", ifname, nw.CIDR, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", ifname, err)
	}
	if nw.Gateway != "" {
		gw := net.ParseIP(nw.Gateway)
		if gw == nil {
			return fmt.Errorf("ukbench.gw=%s: not an IP address", nw.Gateway)
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}); err != nil {
			return fmt.Errorf("default route via %s: %w", nw.Gateway, err)
		}
	}
	return nil
}
