package osvimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// gcc compiles a C source into out with flags; the test skips without a C
// compiler.
func gcc(t *testing.T, src, out string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		testbin.SkipOrFail(t, fmt.Sprintf("no gcc: the fake kernel and programs are compiled: %v", err))
	}
	c := filepath.Join(t.TempDir(), "src.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("gcc", append([]string{"-o", out, c}, flags...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", flags, err, b)
	}
	return out
}

// xenNotesAsm are the notes that make an ELF look like OSv's kernel to
// ReadKernel: Xen GUEST_OS "osv" and a PVH entry.
const xenNotesAsm = `__asm__(".section .note.xen,\"a\",@note\n.balign 4\n.long 4\n.long 4\n.long 6\n.asciz \"Xen\"\n.asciz \"osv\"\n.balign 4\n.long 4\n.long 4\n.long 18\n.asciz \"Xen\"\n.long 0x200000\n.previous\n");
`

// fakeKernel writes a shared object carrying OSv's notes, exporting syms,
// holding the given library names and text, as an OSv kernel would.
func fakeKernel(t *testing.T, syms []string, libs []string, text string) string {
	t.Helper()
	var src strings.Builder
	src.WriteString(xenNotesAsm)
	for _, s := range syms {
		fmt.Fprintf(&src, "void %s(void) {}\n", s)
	}
	fmt.Fprintf(&src, "__attribute__((used)) const char names[] = \"OSv v0.57.0-test\\0%s\\0%s\";\n", strings.Join(libs, "\\0"), text)
	return gcc(t, src.String(), filepath.Join(t.TempDir(), "loader-stripped.elf"), "-shared", "-fPIC", "-nostdlib")
}

// program compiles a PIE calling the named libc functions.
func program(t *testing.T, calls []string, flags ...string) string {
	t.Helper()
	var src strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&src, "extern int %s();\n", c)
	}
	src.WriteString("int main(int argc, char **argv) {\n")
	for _, c := range calls {
		fmt.Fprintf(&src, "  if (argc > 100) %s();\n", c)
	}
	src.WriteString("  return 0;\n}\n")
	return gcc(t, src.String(), filepath.Join(t.TempDir(), "prog"), append([]string{"-fPIE", "-pie"}, flags...)...)
}

// undefinedOf lists a program's strong undefined symbols.
func undefinedOf(t *testing.T, path string) []string {
	t.Helper()
	o, err := readObject(path, "/p")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for n := range o.undefined {
		s = append(s, n)
	}
	sort.Strings(s)
	return s
}

var allLibs = []string{"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "ld-linux-x86-64.so.2"}

func TestReadKernel(t *testing.T) {
	k := fakeKernel(t, []string{"puts", "fork"}, allLibs, "")
	got, err := ReadKernel(k)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Exports["puts"] || !got.Exports["fork"] || got.Exports["nosuch"] {
		t.Errorf("exports %v", got.Exports)
	}
	if !got.Supplies("libc.so.6") || got.Supplies("libstdc++.so.6") {
		t.Errorf("supplied %v: want the names the file holds", got.Supplied)
	}
	if got.Version != "v0.57.0-test" || got.Gzip || got.NeedsVDSOFile {
		t.Errorf("version %q gzip %v vdso %v", got.Version, got.Gzip, got.NeedsVDSOFile)
	}
	// A release's gzip asset reads as the same kernel.
	raw, _ := os.ReadFile(k)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	gz := filepath.Join(t.TempDir(), "osv-loader.elf.x86_64.gz")
	os.WriteFile(gz, z.Bytes(), 0o644)
	zk, err := ReadKernel(gz)
	if err != nil || !zk.Gzip || zk.SHA256 != got.SHA256 {
		t.Errorf("gzip kernel: %v, gzip %v, sha %s vs %s", err, zk != nil && zk.Gzip, zk.SHA256, got.SHA256)
	}
	if v, _ := ReadKernel(fakeKernel(t, nil, nil, vdsoLookupText)); !v.NeedsVDSOFile {
		t.Error("a kernel that looks up libvdso.so on the disk not recognised")
	}
	// Bad kernels: each a named ErrKernel.
	dir := t.TempDir()
	trunc := filepath.Join(dir, "cut.gz")
	os.WriteFile(trunc, z.Bytes()[:z.Len()/2], 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	noNotes := gcc(t, "int f(void){return 0;}", filepath.Join(dir, "vmlinux"), "-shared", "-fPIC", "-nostdlib")
	for file, want := range map[string]string{trunc: "gzip", text: "ELF", noNotes: "guest note"} {
		_, err := ReadKernel(file)
		if !errors.Is(err, ErrKernel) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadKernel(%s): %v; want ErrKernel naming the file and %q", file, err, want)
		}
	}
}

func TestPreflight(t *testing.T) {
	prog := program(t, []string{"puts", "fork"})
	need := undefinedOf(t, prog)
	k, err := ReadKernel(fakeKernel(t, need, allLibs, ""))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := readObject(prog, "/prog")
	o.program = true
	// A library that links fork is only a warning: the program may
	// never call it.
	lib := *o
	lib.program = false
	if w, err := preflight(k, []*elfObject{&lib}, nil, ""); err != nil || len(w) != 1 || !strings.Contains(w[0], "fork") {
		t.Errorf("a library linking fork: warnings %q, error %v", w, err)
	}
	// fork is exported (OSv has a stub) and still refused by name.
	_, err = preflight(k, []*elfObject{o}, nil, "")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "calls fork") || !strings.Contains(err.Error(), prog) {
		t.Errorf("preflight of a forking program: %v", err)
	}
	if _, err := preflight(k, []*elfObject{o}, map[string]string{"fork": "never with this config"}, ""); err != nil {
		t.Errorf("tolerated fork refused: %v", err)
	}
	// A function the kernel lacks, called through the PLT, warns: OSv
	// binds what it can at load (BIND_NOW) and leaves the rest to the
	// first call...
	// (The programs link against a stub library that the preflight is
	// not shown.)
	stub := t.TempDir()
	gcc(t, "int ukbench_absent(void){return 0;}\nint ukbench_absent_data = 1;\n", filepath.Join(stub, "libabsent.so"), "-shared", "-fPIC")
	lazy := program(t, []string{"puts", "ukbench_absent"}, "-L"+stub, "-labsent", "-Wl,-z,lazy")
	kl, _ := ReadKernel(fakeKernel(t, []string{"puts", "__libc_start_main", "__cxa_finalize"}, allLibs, ""))
	ol, _ := readObject(lazy, "/lazy")
	w, err := preflight(kl, []*elfObject{ol}, nil, "")
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "ukbench_absent") {
		t.Errorf("lazy missing symbol: warnings %q, error %v", w, err)
	}
	now := program(t, []string{"puts", "ukbench_absent"}, "-L"+stub, "-labsent", "-Wl,-z,now")
	on, _ := readObject(now, "/now")
	if w, err := preflight(kl, []*elfObject{on}, nil, ""); err != nil || len(w) != 1 {
		t.Errorf("missing function of a BIND_NOW program: warnings %q, error %v", w, err)
	}
	// ...while data the kernel lacks (bound at load, through the GOT) is
	// refused, named.
	data := gcc(t, "extern int ukbench_absent_data;\nint main(void){ return ukbench_absent_data; }\n", filepath.Join(t.TempDir(), "data"), "-fPIE", "-pie", "-L"+stub, "-labsent")
	od, _ := readObject(data, "/data")
	if _, err := preflight(kl, []*elfObject{od}, nil, ""); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "ukbench_absent_data") {
		t.Errorf("missing data symbol: %v", err)
	}
}

// The host's NSD is refused before anything is written, naming fork.
func TestNSDRefused(t *testing.T) {
	nsd, err := exec.LookPath("nsd")
	if err != nil {
		testbin.SkipOrFail(t, "nsd not installed (make deps-apps installs it)")
	}
	k, err := ReadKernel(fakeKernel(t, undefinedOf(t, nsd), allLibs, ""))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "img")
	_, err = Build(context.Background(), Options{App: AppNSD, Kernel: k, OutDir: out})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "fork") {
		t.Fatalf("nsd: %v; want ErrUnsupported naming fork", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused build wrote %s", out)
	}
}

// composed builds a dns image around a C stand-in for the PIE ukbench that
// needs a library of its own (libukbt.so.1) beside libc (the kernel's).
func composed(t *testing.T, k *Kernel, prog, out string) (*Image, error) {
	t.Helper()
	return Build(context.Background(), Options{App: AppDNS, Kernel: k, Binary: prog, OutDir: out, Sockets: 3})
}

func progWithLib(t *testing.T, extra string) (prog string, need []string) {
	t.Helper()
	dir := t.TempDir()
	gcc(t, "int ukbt(void){return 1;}", filepath.Join(dir, "libukbt.so.1"), "-shared", "-fPIC", "-Wl,-soname,libukbt.so.1")
	src := "extern int ukbt(void);\n" + extra + "int main(void){ return ukbt(); }\n"
	prog = gcc(t, src, filepath.Join(dir, "ukbench-pie"), "-fPIE", "-pie", "-L"+dir, "-l:libukbt.so.1", "-Wl,-rpath,"+dir)
	return prog, undefinedOf(t, prog)
}

func TestBuildComposesTheDisk(t *testing.T) {
	prog, need := progWithLib(t, "")
	k, err := ReadKernel(fakeKernel(t, need, allLibs, ""))
	if err != nil {
		t.Fatal(err)
	}
	im, err := composed(t, k, prog, filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "--rootfs=rofs /ukbench serve dns --listen 0.0.0.0:53 --sockets 3"; im.Cmdline != want {
		t.Errorf("cmdline %q, want %q", im.Cmdline, want)
	}
	if im.Ready != "ukbench serve: ready" {
		t.Errorf("ready line %q", im.Ready)
	}
	if !slices.Equal(im.Libraries, []string{"/usr/lib/libukbt.so.1"}) {
		t.Errorf("libraries %v: want libukbt alone (libc is the kernel's)", im.Libraries)
	}
	read, err := ReadImage(im.Dir)
	if err != nil || read.DiskSHA256 != im.DiskSHA256 {
		t.Fatalf("ReadImage: %v", err)
	}
	disk, _ := os.ReadFile(im.DiskPath())
	r := readROFS(t, disk[512:])
	got := r.walk(t)
	for _, p := range []string{"/dev", "/proc", "/sys", "/tmp"} {
		if got[p][0] != ModeDir {
			t.Errorf("mount point %s missing", p)
		}
	}
	if f := string(r.file(got["/etc/fstab"])); !strings.HasPrefix(f, "/dev/vblk0.1 /          rofs") || !strings.Contains(f, "/tmp       ramfs") {
		t.Errorf("fstab:\n%s", f)
	}
	progData, _ := os.ReadFile(prog)
	if !bytes.Equal(r.file(got["/ukbench"]), progData) {
		t.Error("/ukbench is not the program")
	}
	if _, ok := got["/usr/lib/libc.so.6"]; ok {
		t.Error("libc.so.6 on the disk: the kernel supplies it")
	}
	if got["/usr/lib/libukbt.so.1"][0] != ModeFile {
		t.Error("the program's own library is not in /usr/lib")
	}
	kdata, _ := os.ReadFile(im.KernelPath())
	if !bytes.Equal(kdata, k.ELF) {
		t.Error("the image's kernel is not the user's")
	}
}

// TestBuildLeavesNoTornImage: a build that fails while writing leaves
// nothing behind in a new -o DIR, and an earlier image in an existing DIR
// untouched; a rebuild there replaces it.
func TestBuildLeavesNoTornImage(t *testing.T) {
	prog, need := progWithLib(t, "")
	k, err := ReadKernel(fakeKernel(t, need, allLibs, ""))
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	fresh, existing := filepath.Join(parent, "fresh"), filepath.Join(parent, "existing")
	old, err := composed(t, k, prog, existing)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(existing, ImageFile))
	defer func(w func(io.Writer, *FS) (int64, error)) { writeDisk = w }(writeDisk)
	writeDisk = func(w io.Writer, fs *FS) (int64, error) {
		w.Write([]byte("half a disk"))
		return 0, errors.New("disk full")
	}
	for _, dir := range []string{fresh, existing} {
		if _, err := composed(t, k, prog, dir); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("%s: %v, want the write error", dir, err)
		}
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("failed build left %s: %v", fresh, err)
	}
	after, _ := os.ReadFile(filepath.Join(existing, ImageFile))
	if back, err := ReadImage(existing); err != nil || back.DiskSHA256 != old.DiskSHA256 || !bytes.Equal(before, after) {
		t.Errorf("the earlier image in %s changed: %v", existing, err)
	}
	if left, _ := filepath.Glob(filepath.Join(parent, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	writeDisk = WriteDisk
	if im, err := composed(t, k, prog, existing); err != nil || im.Dir != existing {
		t.Fatalf("rebuild into %s: %v", existing, err)
	}
	if _, err := ReadImage(existing); err != nil {
		t.Errorf("rebuilt image: %v", err)
	}
}

// The same inputs give the same bytes: the cache key is honest.
func TestBuildReproducible(t *testing.T) {
	prog, need := progWithLib(t, "")
	k, _ := ReadKernel(fakeKernel(t, need, allLibs, ""))
	a, err := composed(t, k, prog, filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := composed(t, k, prog, filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	ka, err := Key(context.Background(), Options{App: AppDNS, Kernel: k, Binary: prog, Sockets: 3})
	if err != nil {
		t.Fatal(err)
	}
	if kb, _ := Key(context.Background(), Options{App: AppDNS, Kernel: k, Binary: prog, Sockets: 3}); kb != ka {
		t.Error("the same inputs gave two keys")
	}
	if kc, _ := Key(context.Background(), Options{App: AppDNS, Kernel: k, Binary: prog, Sockets: 2}); kc == ka {
		t.Error("another socket count gave the same key")
	}
	for _, f := range []string{"disk.raw", "loader.elf", ImageFile} {
		x, _ := os.ReadFile(filepath.Join(a.Dir, f))
		y, _ := os.ReadFile(filepath.Join(b.Dir, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of the same inputs", f)
		}
	}
}

// A Go program for a kernel that takes libvdso.so from the disk needs
// --bootstrap, and says so; with one, /libvdso.so is on the disk.
func TestBuildVDSO(t *testing.T) {
	goNote := `__asm__(".section .note.go.buildid,\"a\",@note\n.balign 4\n.long 4\n.long 4\n.long 4\n.asciz \"Go\\0\\0\"\n.long 0\n.previous\n");` + "\n"
	prog, need := progWithLib(t, goNote)
	k, _ := ReadKernel(fakeKernel(t, need, allLibs, vdsoLookupText))
	_, err := composed(t, k, prog, filepath.Join(t.TempDir(), "img"))
	if !errors.Is(err, ErrVDSO) || !strings.Contains(err.Error(), "--bootstrap") {
		t.Fatalf("no bootstrap: %v; want ErrVDSO saying --bootstrap", err)
	}
	boot := bootstrapFile(t, map[string]string{"meta/package.yaml": "name: osv.bootstrap\n", "libvdso.so": "VDSO"})
	im, err := Build(context.Background(), Options{App: AppHTTP, Kernel: k, Binary: prog, Bootstrap: boot, OutDir: filepath.Join(t.TempDir(), "img")})
	if err != nil {
		t.Fatal(err)
	}
	disk, _ := os.ReadFile(im.DiskPath())
	r := readROFS(t, disk[512:])
	if got := r.walk(t); string(r.file(got["/libvdso.so"])) != "VDSO" || !im.VDSO {
		t.Error("/libvdso.so not taken from the bootstrap")
	}
	if !strings.HasSuffix(im.Cmdline, "serve http --listen 0.0.0.0:80") {
		t.Errorf("http cmdline %q", im.Cmdline)
	}
	if _, err := readVDSO(bootstrapFile(t, map[string]string{"other": "x"})); err == nil || !strings.Contains(err.Error(), "no libvdso.so") {
		t.Errorf("bootstrap without libvdso.so: %v", err)
	}
}

func TestBuildRefusesBadApps(t *testing.T) {
	k, _ := ReadKernel(fakeKernel(t, []string{"puts"}, allLibs, ""))
	text := filepath.Join(t.TempDir(), "ukbench-pie")
	os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755)
	static := gcc(t, "int main(void){return 0;}", filepath.Join(t.TempDir(), "static"), "-static")
	for bin, want := range map[string]string{text: "not an ELF", static: "PIE"} {
		_, err := Build(context.Background(), Options{App: AppHTTP, Kernel: k, Binary: bin, OutDir: filepath.Join(t.TempDir(), "x")})
		if !errors.Is(err, ErrAppBinary) || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), want) {
			t.Errorf("app binary %s: %v; want ErrAppBinary naming it and %q", bin, err, want)
		}
	}
	if _, err := Build(context.Background(), Options{App: "bind", Kernel: k, OutDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), `"bind"`) {
		t.Errorf("unknown app: %v", err)
	}
}

// bootstrapFile writes a gzip tar with the given files, as an OSv
// release's osv.bootstrap.mpm.x86_64 is.
func bootstrapFile(t *testing.T, files map[string]string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "osv.bootstrap.mpm.x86_64")
	os.WriteFile(p, b.Bytes(), 0o644)
	return p
}

// TestKeyNamesAnUnreadableFile: a file the key cannot read (here a
// directory given as the bootstrap: it opens, its read fails) is named,
// with its role.
func TestKeyNamesAnUnreadableFile(t *testing.T) {
	prog, need := progWithLib(t, "")
	k, err := ReadKernel(fakeKernel(t, need, allLibs, ""))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Key(context.Background(), Options{App: AppDNS, Kernel: k, Binary: prog, Bootstrap: dir})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("Key: %v, want the bootstrap %s named", err, dir)
	}
}
