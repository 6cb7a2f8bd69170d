package vm

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/qmptest"
)

// useFakeLibvirt points connectLibvirt at a fresh fake daemon.
func useFakeLibvirt(t *testing.T) *fakeLibvirt {
	t.Helper()
	f := newFakeLibvirt()
	old := connectLibvirt
	connectLibvirt = f.connect
	t.Cleanup(func() { connectLibvirt = old })
	return f
}

// fakeQMP is go-qemu's qmptest monitor answering query-status.
func fakeQMP(status string, err error) Dialer {
	return func(string, time.Duration) (qmp.Monitor, error) {
		if err != nil {
			return nil, err
		}
		return qmptest.NewMonitor(func(qmp.Command) (any, error) {
			return map[string]any{"return": map[string]any{"status": status, "running": status == "running"}}, nil
		}), nil
	}
}

// libvirtConfig is a Linux-guest-like config for the libvirt backend.
func libvirtConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initramfs.cpio.gz")
	os.WriteFile(kernel, []byte("kernel bytes"), 0o644)
	os.WriteFile(initrd, []byte("initrd bytes"), 0o644)
	return Config{Shape: Shape{Backend: BackendLibvirt, URI: "qemu:///system", Accel: AccelTCG}, Kernel: kernel, Initrd: initrd,
		Append: "console=ttyS0 ukbench.ip=10.0.2.15/24", ConsoleLog: filepath.Join(dir, "console.log"), Campaign: "unit", RunID: "linux-dns-r1",
		Net: Network{Forwards: []Forward{{Proto: "udp", GuestPort: 53}, {Proto: "tcp", GuestPort: 53}}}}
}

func TestParseLibvirtURI(t *testing.T) {
	for _, tc := range []struct {
		uri, redacted string
		local         bool
	}{
		{"qemu:///system", "qemu:///system", true},
		{"qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k", "qemu+ssh://127.0.0.1:2222/system?keyfile=/k", true},
		{"qemu+tcp://lab7/system", "qemu+tcp://lab7/system", false},
	} {
		u, err := ParseLibvirtURI(tc.uri)
		if err != nil || u.Redacted() != tc.redacted || u.Local() != tc.local {
			t.Errorf("%s: %v, redacted %q, local %v; want %q, %v", tc.uri, err, u.Redacted(), u.Local(), tc.redacted, tc.local)
		}
	}
	for _, bad := range []string{"", "xen:///system", "qemu:///session", "qemu+ssh://u:secret@h/system", "qemu+ssh:///system", "qemu+foo://h/system"} {
		if _, err := ParseLibvirtURI(bad); !errors.Is(err, ErrLibvirtURI) {
			t.Errorf("%q: %v, want ErrLibvirtURI", bad, err)
		}
	}
	// Validate names the field.
	s := Shape{Backend: BackendLibvirt, URI: "qemu+tcp://lab7/system"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "network") {
		t.Errorf("user networking on a remote host: %v, want an error naming network", err)
	}
	if err := (Shape{URI: "qemu:///system"}).Validate(); err == nil || !strings.Contains(err.Error(), "uri") {
		t.Errorf("uri without backend libvirt: %v", err)
	}
}

// wellFormed parses x and returns its top element's type attribute.
func wellFormed(t *testing.T, x []byte) string {
	t.Helper()
	var d struct {
		Type string `xml:"type,attr"`
		Name string `xml:"name"`
	}
	if err := xml.Unmarshal(x, &d); err != nil {
		t.Fatalf("domain XML does not parse: %v\n%s", err, x)
	}
	return d.Type
}

func TestDomainXMLPerTargetKind(t *testing.T) {
	owner := domainOwner{Campaign: "c", Host: "h", PID: 7, BootID: "b", Started: time.Unix(0, 0).UTC()}
	files := guestFiles{Kernel: "/pool/k", Initrd: "/pool/i", Disk: "/pool/d"}
	base := Config{Shape: Shape{Backend: BackendLibvirt, URI: "qemu:///system", CPUs: 2, MemoryMiB: 512}, ConsoleLog: "/x"}

	linux := base
	linux.Kernel, linux.Initrd, linux.Append = "/local/k", "/local/i", "console=ttyS0 a=<b&c>"
	linux.Net.Forwards = []Forward{{Proto: "udp", GuestPort: 53, HostPort: 4053}, {Proto: "tcp", GuestPort: 53, HostPort: 4053}}
	linux.HostCPUs = []int{1, 3}

	osvELF := base
	osvELF.Kernel, osvELF.Append = "/local/loader-stripped.elf", "--rootfs=rofs /ukbench serve http"

	osvDisk := base
	osvDisk.Disk, osvDisk.DiskFormat = "/local/usr.img", "qcow2"
	osvDisk.Network, osvDisk.Bridge, osvDisk.GuestIP = NetTap, "br-lab", "10.77.0.2/24"

	for _, tc := range []struct {
		name  string
		cfg   Config
		accel string
		want  []string
		not   []string
	}{
		{"linux", linux, AccelTCG, []string{
			"<domain type=\"qemu\"", "<kernel>/pool/k</kernel>", "<initrd>/pool/i</initrd>", "<cmdline>console=ttyS0 a=&lt;b&amp;c&gt;</cmdline>",
			`<vcpupin vcpu='0' cpuset="1,3"/>`, `<vcpupin vcpu='1' cpuset="1,3"/>`, `<emulatorpin cpuset="1,3"/>`,
			`<qemu:arg value="user,id=net0,restrict=off,hostfwd=udp:127.0.0.1:4053-:53,hostfwd=tcp:127.0.0.1:4053-:53"/>`,
			`<qemu:arg value="virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=,bus=pci.0,addr=0x1e"/>`,
			"<cpu mode='maximum'/>", "<memory unit='MiB'>512</memory>", "<vcpu placement='static'>2</vcpu>", "ukbench:run xmlns:ukbench=\"" + libvirtNS,
			"<on_reboot>destroy</on_reboot>", "<console type='pty'>",
		}, []string{"<disk", "/local/", "<interface"}},
		{"osv-elf", osvELF, AccelKVM, []string{
			"<domain type=\"kvm\"", "<kernel>/pool/k</kernel>", "<cmdline>--rootfs=rofs /ukbench serve http</cmdline>", "<cpu mode='host-passthrough'/>",
		}, []string{"<initrd>", "<disk", "<cputune>"}},
		{"osv-disk", osvDisk, AccelTCG, []string{
			`<source file="/pool/d"/>`, `type="qcow2"`, "<transient/>", "<boot dev='hd'/>",
			`<source bridge="br-lab"/>`, `<model type="virtio"/>`, `<mac address="52:54:00:12:34:56"/>`,
		}, []string{"<kernel>", "hostfwd", "<qemu:commandline>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := DomainXML(tc.cfg, tc.accel, "ukbench-c-"+tc.name+"-1-1", files, owner)
			wantType := map[string]string{AccelKVM: "kvm", AccelTCG: "qemu"}[tc.accel]
			if typ := wellFormed(t, x); typ != wantType {
				t.Errorf("type %q, want %q", typ, wantType)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(x), w) {
					t.Errorf("missing %s\n%s", w, x)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(string(x), n) {
					t.Errorf("unexpected %s\n%s", n, x)
				}
			}
			// The metadata round-trips: it is what leftovers are judged by.
			o, err := parseOwner(between(string(x), "<metadata>", "</metadata>"))
			if err != nil || o != owner {
				t.Errorf("owner %+v, %v; want %+v", o, err, owner)
			}
		})
	}
}

func TestLibvirtLifecycle(t *testing.T) {
	f := useFakeLibvirt(t)
	cfg := libvirtConfig(t)
	m, err := NewLibvirt(cfg, fakeQMP("paused", nil))
	if err != nil {
		t.Fatal(err)
	}
	ready := m.WatchConsole("fake guest: ready")
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Name(), "ukbench-unit-linux-dns-r1-") {
		t.Errorf("domain name %q: want ukbench-CAMPAIGN-RUN-…", m.Name())
	}
	if d, err := ready.Wait(ctx); err != nil || d <= 0 {
		t.Fatalf("marker: %v, %v", d, err)
	}
	if fw := m.Forwards(); fw[0].HostPort == 0 || fw[0].HostPort != fw[1].HostPort {
		t.Errorf("forwards %v: want one host port for DNS over UDP and TCP", fw)
	}
	if rss, _, err := m.Memory(); rss != 123456 || err != nil {
		t.Errorf("memory %d, %v: want DomainMemoryStats' rss", rss, err)
	}
	if !f.hasVolume("kernel bytes") || !f.hasVolume("initrd bytes") {
		t.Errorf("kernel and initrd not uploaded as finished volumes: %v", f.vols)
	}
	if x := f.created[0]; !strings.Contains(x, "<kernel>"+libvirtPoolDir+"/") {
		t.Errorf("domain boots a path outside the pool:\n%s", x)
	}
	if m.QMPReady() <= 0 || m.Accel() != AccelTCG {
		t.Errorf("QMP ready %v, accel %q", m.QMPReady(), m.Accel())
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.domainNames()) != 0 || f.conns != 0 {
		t.Errorf("after Shutdown: domains %v, %d connections open", f.domainNames(), f.conns)
	}
	if _, live := liveDomains.Load(m.Name()); live {
		t.Error("domain still counted live")
	}
	log, _ := os.ReadFile(cfg.ConsoleLog)
	if !strings.Contains(string(log), "fake guest: ready") {
		t.Errorf("console log %q", log)
	}
	select {
	case <-m.Exited():
	default:
		t.Error("Exited not closed after Shutdown")
	}
	// A second boot finds the files by their hash: nothing uploaded again.
	up := f.uploads
	m2, _ := NewLibvirt(cfg, fakeQMP("paused", nil))
	if err := m2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m2.Shutdown(ctx)
	if f.uploads != up {
		t.Errorf("second boot uploaded %d files again", f.uploads-up)
	}
}

// TestLibvirtStartCleansUpOnEveryError fails each step in turn: whatever
// fails, no domain is left, every connection is closed and the error
// names the step.
// TestLibvirtFiguresCountFromResume: the paused setup (here a QMP
// connection that takes 150 ms while the guest is frozen) is before
// StartedAt, not in the guest's console figure; QMPReady still counts
// from DomainCreateXML.
func TestLibvirtFiguresCountFromResume(t *testing.T) {
	useFakeLibvirt(t)
	const setup = 150 * time.Millisecond
	slow := func(name string, d time.Duration) (qmp.Monitor, error) {
		time.Sleep(setup)
		return fakeQMP("paused", nil)(name, d)
	}
	m, err := NewLibvirt(libvirtConfig(t), slow)
	if err != nil {
		t.Fatal(err)
	}
	ready := m.WatchConsole("fake guest: ready")
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(ctx)
	d, err := ready.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 || d >= setup {
		t.Errorf("console ready %v after StartedAt: want the guest's time alone, not the %v paused setup", d, setup)
	}
	if paused := m.StartedAt().Sub(m.CreatedAt()); paused < setup {
		t.Errorf("StartedAt %v after DomainCreateXML, want the paused setup (>= %v) before it", paused, setup)
	}
	if m.QMPReady() < setup {
		t.Errorf("QMPReady %v: want it from DomainCreateXML (>= %v)", m.QMPReady(), setup)
	}
}

func TestLibvirtStartCleansUpOnEveryError(t *testing.T) {
	for _, tc := range []struct {
		method, step string
		dial         Dialer
	}{
		{"connect", "connect to libvirt", nil},
		{"ConnectListAllDomains", "destroy dead runs' leftovers", nil},
		{"StoragePoolCreateXML", "upload files", nil},
		{"StorageVolCreateXML", "upload files", nil},
		{"StorageVolUpload", "upload files", nil},
		{"DomainCreateXML", "create domain", nil},
		{"", "connect QMP", fakeQMP("", errors.New("no monitor"))},
		{"DomainResume", "resume guest", nil},
	} {
		t.Run(tc.step+"/"+tc.method, func(t *testing.T) {
			f := useFakeLibvirt(t)
			if tc.method != "" {
				f.fail[tc.method] = errFake
			}
			dial := tc.dial
			if dial == nil {
				dial = fakeQMP("paused", nil)
			}
			m, err := NewLibvirt(libvirtConfig(t), dial)
			if err != nil {
				t.Fatal(err)
			}
			err = m.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), "vm: "+tc.step+":") {
				t.Fatalf("Start: %v, want the step %q named", err, tc.step)
			}
			if n := f.domainNames(); len(n) != 0 || f.conns != 0 {
				t.Errorf("after a failed Start: domains %v, %d connections open", n, f.conns)
			}
			if _, live := liveDomains.Load(m.Name()); live {
				t.Error("domain still counted live")
			}
			if f.uploads > 0 && tc.method == "StorageVolUpload" || len(f.vols) > 0 && (tc.method == "StorageVolUpload") {
				t.Errorf("torn upload left volumes %v", f.vols)
			}
		})
	}
}

// TestLibvirtCancelledStart: a context that ends mid-start stops at the
// next step, with the domain destroyed.
func TestLibvirtCancelledStart(t *testing.T) {
	f := useFakeLibvirt(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	dial := func(string, time.Duration) (qmp.Monitor, error) {
		cancel(errors.New("interrupted"))
		return fakeQMP("paused", nil)("", 0)
	}
	m, _ := NewLibvirt(libvirtConfig(t), dial)
	if err := m.Start(ctx); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Start: %v", err)
	}
	if n := f.domainNames(); len(n) != 0 {
		t.Errorf("domains left: %v", n)
	}
}

// TestLibvirtDaemonLost: the daemon dying mid-run ends the guest with
// ErrLibvirtLost; Shutdown reconnects once it is back and destroys the
// domain.
func TestLibvirtDaemonLost(t *testing.T) {
	f := useFakeLibvirt(t)
	m, _ := NewLibvirt(libvirtConfig(t), fakeQMP("paused", nil))
	ready := m.WatchConsole("fake guest: ready")
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ready.Wait(ctx)
	f.loseConnection()
	<-m.Exited()
	if err := m.Wait(ctx); !errors.Is(err, ErrLibvirtLost) || !strings.Contains(err.Error(), m.Name()) {
		t.Fatalf("Wait: %v, want ErrLibvirtLost naming the domain", err)
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.domainNames(); len(n) != 0 {
		t.Errorf("domain left after the daemon came back: %v", n)
	}
}

// TestLibvirtDaemonNotBack: Shutdown gives up after the reconnect timeout
// with ErrLibvirtLost, and the campaign's next start destroys the domain.
func TestLibvirtDaemonNotBack(t *testing.T) {
	f := useFakeLibvirt(t)
	defer func(d time.Duration) { libvirtReconnectTimeout = d }(libvirtReconnectTimeout)
	libvirtReconnectTimeout = 50 * time.Millisecond
	cfg := libvirtConfig(t)
	m, _ := NewLibvirt(cfg, fakeQMP("paused", nil))
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.fail["connect"] = errFake
	f.loseConnection()
	<-m.Exited()
	if err := m.Shutdown(context.Background()); !errors.Is(err, ErrLibvirtLost) {
		t.Fatalf("Shutdown: %v, want ErrLibvirtLost", err)
	}
	if len(f.domainNames()) != 1 {
		t.Fatalf("domains %v", f.domainNames())
	}
	delete(f.fail, "connect")
	next, _ := NewLibvirt(cfg, fakeQMP("paused", nil))
	if err := next.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer next.Shutdown(context.Background())
	if n := f.domainNames(); len(n) != 1 || n[0] != next.Name() {
		t.Errorf("domains %v, want only the new guest %s (the leftover destroyed)", n, next.Name())
	}
}

// TestLibvirtShutdownHonoursCtx: with the daemon down, Shutdown stops
// waiting for it when ctx ends (not after libvirtReconnectTimeout), with
// ErrLibvirtLost naming the domain; so does a Start interrupted while
// the daemon is away.
func TestLibvirtShutdownHonoursCtx(t *testing.T) {
	f := useFakeLibvirt(t)
	m, _ := NewLibvirt(libvirtConfig(t), fakeQMP("paused", nil))
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.fail["connect"] = errFake
	f.mu.Unlock()
	f.loseConnection()
	<-m.Exited()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begun := time.Now()
	err := m.Shutdown(ctx)
	if !errors.Is(err, ErrLibvirtLost) || !strings.Contains(err.Error(), m.Name()) {
		t.Fatalf("Shutdown: %v, want ErrLibvirtLost naming the domain", err)
	}
	if d := time.Since(begun); d > 5*time.Second {
		t.Errorf("Shutdown took %v after its ctx ended (libvirtReconnectTimeout %v)", d, libvirtReconnectTimeout)
	}

	// Start interrupted (Ctrl-C) just as the daemon goes away.
	f.mu.Lock()
	delete(f.fail, "connect")
	f.mu.Unlock()
	sctx, scancel := context.WithCancelCause(context.Background())
	dial := func(string, time.Duration) (qmp.Monitor, error) {
		f.mu.Lock()
		f.fail["connect"] = errFake
		f.mu.Unlock()
		f.loseConnection()
		scancel(errors.New("interrupted"))
		return nil, errors.New("daemon gone")
	}
	s, _ := NewLibvirt(libvirtConfig(t), dial)
	begun = time.Now()
	if err := s.Start(sctx); err == nil {
		t.Fatal("Start succeeded")
	}
	if d := time.Since(begun); d > 5*time.Second {
		t.Errorf("interrupted Start took %v with the daemon down", d)
	}
}

// TestReapLeftovers: a dead run's domains of this campaign are destroyed;
// domains without ukbench's element, another campaign's, a live
// process's and another host's are left alone.
func TestReapLeftovers(t *testing.T) {
	f := useFakeLibvirt(t)
	me := thisOwner("unit", time.Now())
	dead := me
	dead.PID = deadPID(t)
	oldBoot := me
	oldBoot.PID, oldBoot.BootID = 1, "an-earlier-boot"
	live := me
	live.PID = 1 // init: alive
	otherHost := me
	otherHost.PID, otherHost.Host = dead.PID, "elsewhere"
	other := dead
	other.Campaign = "other"
	f.addDomain("ukbench-unit-linux-dns-r1-9-1", dead.element())
	f.addDomain("ukbench-unit-linux-dns-r2-9-2", oldBoot.element())
	f.addDomain("ukbench-unit-linux-dns-r3-1-1", live.element())
	f.addDomain("ukbench-unit-linux-dns-r4-9-3", otherHost.element())
	f.addDomain("ukbench-unit-linux-dns-r5-9-4", other.element()) // other campaign, misleading name
	f.addDomain("ukbench-unit-handmade", "")                      // no ukbench element
	f.addDomain("webserver", "")
	api, _ := f.connect(LibvirtURI{})
	got, err := reapLeftovers(api, "unit")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ukbench-unit-linux-dns-r1-9-1": true, "ukbench-unit-linux-dns-r2-9-2": true}
	if len(got) != len(want) {
		t.Errorf("destroyed %v, want %v", got, want)
	}
	for _, n := range got {
		if !want[n] {
			t.Errorf("destroyed %s, which is not a dead run's", n)
		}
	}
	if n := f.domainNames(); len(n) != 5 {
		t.Errorf("left %v: want the 5 others untouched", n)
	}
}

// deadPID is the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	return p.Pid
}

func TestLibvirtAccel(t *testing.T) {
	f := useFakeLibvirt(t)
	s := Shape{Backend: BackendLibvirt, URI: "qemu:///system"}
	c, err := ResolveShapeAccel(context.Background(), s, AccelRequest{Accel: AccelAuto, Source: "default"})
	if err != nil || c.Accel != AccelTCG || !strings.Contains(c.Reason, "fakehost offers no kvm domain type") {
		t.Errorf("auto on a host without kvm: %+v, %v", c, err)
	}
	if _, err := ResolveShapeAccel(context.Background(), s, AccelRequest{Accel: AccelKVM, Source: "--accel"}); !errors.Is(err, ErrNoKVM) {
		t.Errorf("kvm on a host without kvm: %v, want ErrNoKVM", err)
	}
	f.fail["connect"] = errFake
	if c, err := ResolveShapeAccel(context.Background(), s, AccelRequest{Accel: AccelTCG, Source: "--accel"}); err != nil || c.Accel != AccelTCG {
		t.Errorf("tcg needs no daemon: %+v, %v", c, err)
	}
}

func TestDescribeLibvirtHost(t *testing.T) {
	f := useFakeLibvirt(t)
	u, _ := ParseLibvirtURI("qemu+ssh://alice@127.0.0.1/system")
	api, _ := f.connect(u)
	h, err := describeLibvirtHost(api, u)
	if err != nil || h.LibvirtVersion != "9.0.0" || h.QEMUVersion != "7.2.22" || h.URI != "qemu+ssh://127.0.0.1/system" || h.Kernel == "" || h.CPUModel != "FakeCPU" {
		t.Errorf("%+v, %v", h, err)
	}
}

// TestRelayedQEMUError: the probe's verdict on a libvirt host quotes
// QEMU's own error line out of libvirt's (this machine's kvm_pvm, as
// libvirt 9.0 relays it).
func TestRelayedQEMUError(t *testing.T) {
	err := errors.New("vm: create domain: libvirt: DomainCreateXML ukbench-kvm-probe-probe-1-1: internal error: qemu unexpectedly closed the monitor: 2026-12-01T18:04:53.282424Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.")
	if got := relayedQEMUError(err); got != "failed to set MSR 0x10a to 0x69" {
		t.Errorf("%q", got)
	}
}

// TestLibvirtConsoleFailure: a console stream that fails while the guest
// runs ends it (no console, no readiness) with the cause; Shutdown
// destroys the domain.
func TestLibvirtConsoleFailure(t *testing.T) {
	f := useFakeLibvirt(t)
	f.fail["DomainOpenConsole"] = errFake
	defer func(d time.Duration) { consoleLostGrace = d }(consoleLostGrace)
	consoleLostGrace = 50 * time.Millisecond
	m, _ := NewLibvirt(libvirtConfig(t), fakeQMP("paused", nil))
	ready := m.WatchConsole("fake guest: ready")
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ready.Wait(context.Background()); !errors.Is(err, ErrLibvirt) || !strings.Contains(err.Error(), "console of domain") {
		t.Errorf("marker: %v, want the console's failure", err)
	}
	m.Shutdown(context.Background())
	if n := f.domainNames(); len(n) != 0 {
		t.Errorf("domains left: %v", n)
	}
}

// The guest is resumed only once the daemon holds its console (QEMU drops
// what a guest prints to a pty nobody holds): a daemon that does not open
// it in time fails the start, the guest never having run; one that opens
// it late loses no line.
func TestLibvirtResumesOnlyOnceTheConsoleIsHeld(t *testing.T) {
	f := useFakeLibvirt(t)
	restore := func(o, d time.Duration) func() {
		return func() { consoleOpenTimeout, consoleDrainTimeout = o, d }
	}(consoleOpenTimeout, consoleDrainTimeout)
	defer restore()
	consoleOpenTimeout, consoleDrainTimeout = 50*time.Millisecond, 50*time.Millisecond
	f.openHeld = make(chan struct{})
	m, _ := NewLibvirt(libvirtConfig(t), fakeQMP("paused", nil))
	err := m.Start(context.Background())
	if !errors.Is(err, ErrLibvirt) || !strings.Contains(err.Error(), "not open after 50ms") {
		t.Errorf("Start with the console held = %v, want ErrLibvirt saying the console is not open", err)
	}
	f.mu.Lock()
	created, resumes := len(f.created), f.resumes
	f.mu.Unlock()
	if created != 1 || resumes != 0 || len(f.domainNames()) != 0 {
		t.Errorf("%d domains created, %d resumed, %v left: want one, never resumed, destroyed", created, resumes, f.domainNames())
	}
	close(f.openHeld)

	// The late open: the usual bounds, so that a busy host's slow fake
	// daemon is not mistaken for one that never opens.
	restore()
	m, _ = NewLibvirt(libvirtConfig(t), fakeQMP("paused", nil))
	ready := m.WatchConsole("fake guest: ready")
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	if _, err := ready.Wait(context.Background()); err != nil {
		t.Errorf("marker: %v", err)
	}
}

// TestLibvirtRemoteHostIsNotPinned: this host's target CPUs are not the
// libvirt host's.
func TestLibvirtRemoteHostIsNotPinned(t *testing.T) {
	cfg := libvirtConfig(t)
	cfg.HostCPUs = []int{1}
	cfg.URI, cfg.Network, cfg.Bridge, cfg.GuestIP, cfg.Net.Forwards = "qemu+ssh://lab7/system", NetTap, "br0", "10.77.0.2/24", nil
	m, err := NewLibvirt(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if x := m.DomainXML(); strings.Contains(string(x), "<cputune>") {
		t.Errorf("remote domain pinned to this host's CPUs:\n%s", x)
	}
	cfg.URI = "qemu:///system"
	m, _ = NewLibvirt(cfg, nil)
	if x := m.DomainXML(); !strings.Contains(string(x), `<emulatorpin cpuset="1"/>`) {
		t.Errorf("local domain not pinned:\n%s", x)
	}
}

// TestUploadPrunesOldVolumes: uploading keeps the keepVolumes most
// recently used volumes of a base name (a volume read recently counts as
// used), and removes the others with their markers; a volume this
// process's guest boots, and other base names, are left alone.
func TestUploadPrunesOldVolumes(t *testing.T) {
	f := useFakeLibvirt(t)
	api, _ := f.connect(LibvirtURI{})
	pool, err := ukbenchPool(api)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	upload := func(sub, base, content string) string {
		t.Helper()
		p := filepath.Join(dir, sub, base)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
		path, err := uploadFile(api, pool, p)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Base(path)
	}
	other := upload("o", "initramfs.cpio.gz", "an initramfs")
	var kernels []string
	for i := range 3 {
		kernels = append(kernels, upload(fmt.Sprint(i), "vmlinuz", fmt.Sprint("kernel ", i)))
	}
	// kernels[0] is in use by a guest of this process; kernels[1] was
	// read since, so it is more recent than kernels[2].
	release := useVolumes(libvirtPoolDir + "/" + kernels[0])
	f.touch(kernels[1])
	for i := 3; i < 7; i++ {
		kernels = append(kernels, upload(fmt.Sprint(i), "vmlinuz", fmt.Sprint("kernel ", i)))
	}
	has := func(n string) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, v := f.vols[n]
		_, ok := f.vols[n+okSuffix]
		if v != ok {
			t.Errorf("volume %s: present %v, its marker %v", n, v, ok)
		}
		return v
	}
	// Kept: the one in use, and the 4 most recently used of the others
	// (6, 5, 4, 3); kernels[1], touched before 3–6 were made, and 2 go.
	for i, want := range []bool{true, false, false, true, true, true, true} {
		if has(kernels[i]) != want {
			t.Errorf("kernel %d kept %v, want %v", i, !want, want)
		}
	}
	if !has(other) {
		t.Error("a volume of another base name was pruned")
	}
	release()
	upload("7", "vmlinuz", "kernel 7")
	if has(kernels[0]) || has(kernels[3]) {
		t.Error("after its guest released it, the oldest volume (and the fifth most recent) were kept")
	}
}
