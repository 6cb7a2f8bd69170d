package linuximage

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"

	"github.com/ukbench/ukbench/internal/testbin"
)

// fakeModules makes a modules tree with a modules.dep, as depmod writes it.
func fakeModules(t *testing.T, dep string, builtin ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, line := range strings.Split(strings.TrimSpace(dep), "\n") {
		mod, _, _ := strings.Cut(line, ":")
		p := filepath.Join(dir, mod)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("module"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(strings.Join(builtin, "\n")), 0o644)
	return dir
}

func TestModuleOrderPutsDependenciesFirst(t *testing.T) {
	dir := fakeModules(t, `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
`)
	order, err := ModuleOrder(dir, NetModules)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, p := range order {
		pos[moduleName(p)] = i
	}
	if len(order) != 7 {
		t.Fatalf("order = %v, want 7 modules", order)
	}
	for _, d := range [][2]string{{"virtio_ring", "virtio"}, {"virtio", "virtio_pci"}, {"virtio_pci_modern_dev", "virtio_pci"}, {"failover", "net_failover"}, {"net_failover", "virtio_net"}, {"virtio", "virtio_net"}} {
		if pos[d[0]] >= pos[d[1]] {
			t.Errorf("%s loads after %s: %v", d[0], d[1], order)
		}
	}
}

func TestModuleOrderErrors(t *testing.T) {
	dir := fakeModules(t, "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n")
	if _, err := ModuleOrder(dir, []string{"a"}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	dir = fakeModules(t, "kernel/a.ko: kernel/missing.ko\n")
	if _, err := ModuleOrder(dir, []string{"a"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dependency: %v", err)
	}
	// A dependency built into the kernel is not loaded.
	dir = fakeModules(t, "kernel/a.ko: kernel/virtio.ko\n", "kernel/drivers/virtio/virtio.ko")
	if order, err := ModuleOrder(dir, []string{"a"}); err != nil || len(order) != 1 {
		t.Errorf("built-in dependency: %v, %v", order, err)
	}
}

// TestNewcReadBack writes an archive and reads it with an independent
// cpio reader.
func TestNewcReadBack(t *testing.T) {
	var buf bytes.Buffer
	a := newNewcWriter(&buf)
	a.File("/ukbench/init.json", 0o644, []byte(`{"x":1}`))
	a.Symlink("/bin/ukbench", "/init")
	a.CharDev("/dev/console", 0o600, 5, 1)
	a.File("/odd", 0o755, []byte("abc")) // a size that needs padding
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	raw := buf.String()
	// The kernel reads the device numbers from rdevmajor/rdevminor (the
	// 10th and 11th header fields), which the reader below ignores.
	if i := strings.Index(raw, "dev/console\x00"); i < 110 || raw[i-110+78:i-110+94] != "0000000500000001" {
		t.Errorf("/dev/console is not device 5,1")
	}
	r := cpio.NewReader(&buf)
	got := map[string]string{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		got[h.Name] = h.Mode.String() + " " + h.Linkname + string(data)
		if h.ModTime.Unix() == 0 {
			t.Errorf("%s dated 1970", h.Name)
		}
	}
	for name, want := range map[string]string{
		"ukbench":           "040755 ",
		"ukbench/init.json": `0100644 {"x":1}`,
		"bin/ukbench":       "0120777 /init",
		"dev/console":       "020600 ",
		"odd":               "0100755 abc",
	} {
		if g, ok := got[name]; !ok || g != want {
			t.Errorf("%s = %q, want %q in it (all: %v)", name, g, want, got)
		}
	}
}

func TestCheckGuestBinary(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		testbin.SkipOrFail(t, fmt.Sprintf("no sh: %v", err))
	}
	if err := checkGuestBinary(sh); err != nil { // dynamically linked: fine now
		t.Errorf("checkGuestBinary(%s) = %v", sh, err)
	}
	text := filepath.Join(t.TempDir(), "script")
	os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755)
	if err := checkGuestBinary(text); !errors.Is(err, ErrGuestBinary) || !strings.Contains(err.Error(), text) {
		t.Errorf("checkGuestBinary(a script) = %v", err)
	}
}

func TestParseLoaderList(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd5a1f2000)\n" +
		"\tlibfoo.so.1 => not found\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b60268000)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f0b60473000)\n"
	got, err := parseLoaderList(out)
	want := []sharedObject{{"libfoo.so.1", ""}, {"libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"}, {"/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("parseLoaderList = %v, %v; want %v", got, err, want)
	}
	if _, err := parseLoaderList("\tlibfoo.so => lib/libfoo.so (0x1)\n"); err == nil {
		t.Errorf("a relative path (from a relative LD_LIBRARY_PATH) was taken")
	}
}

// fakeKernel is a kernel with the virtio modules (empty files) for images
// that are read back, not booted.
func fakeKernel(t *testing.T) *Kernel {
	t.Helper()
	mods := fakeModules(t, "kernel/drivers/virtio/virtio_pci.ko:\nkernel/drivers/net/virtio_net.ko:\n")
	img := filepath.Join(t.TempDir(), "vmlinuz-6.1.0-test")
	os.WriteFile(img, []byte("kernel"), 0o644)
	return &Kernel{Version: "6.1.0-test", Image: img, ModulesDir: mods}
}

// cpioEntry is a file of an initramfs read back.
type cpioEntry struct {
	mode os.FileMode
	link string
	data []byte
}

func readInitramfs(t *testing.T, path string) map[string]cpioEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(zr)
	got := map[string]cpioEntry{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		got["/"+h.Name] = cpioEntry{h.FileInfo().Mode(), h.Linkname, data}
	}
}

// dynamicInterp returns the PT_INTERP of an executable ("" when static).
func dynamicInterp(t *testing.T, path string) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp, _, _, err := dynamicInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	return interp
}

// TestBuildPacksTheLoaderAndLibrariesOfADynamicInit builds an image whose
// /init is the host's dynamically linked sh (a stand-in for a cgo ukbench:
// the packing does not care what the program is) and reads it back: the
// interpreter at its PT_INTERP path and libc where ldd finds it, as regular
// files with the host's content, and both in image.json.
func TestBuildPacksTheLoaderAndLibrariesOfADynamicInit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		testbin.SkipOrFail(t, fmt.Sprintf("no sh: %v", err))
	}
	sh, _ = filepath.EvalSymlinks(sh)
	interp := dynamicInterp(t, sh)
	if interp == "" {
		testbin.SkipOrFail(t, sh+" is statically linked: this test needs a dynamically linked program")
	}
	out := filepath.Join(t.TempDir(), "image")
	im, err := Build(context.Background(), Options{App: AppDNS, Kernel: fakeKernel(t), Binary: sh, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	files := readInitramfs(t, im.InitrdPath())
	same := func(inImage, host string) {
		t.Helper()
		want, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := files[inImage]
		if !ok || !e.mode.IsRegular() || !bytes.Equal(e.data, want) {
			t.Errorf("%s in the image: present %v, mode %v, %d bytes; want a copy of %s (%d bytes)", inImage, ok, e.mode, len(e.data), host, len(want))
		}
	}
	same("/init", sh)
	same(interp, interp)
	libc := ""
	for _, l := range im.Libraries {
		if filepath.Base(l) == "libc.so.6" {
			libc = l
		}
	}
	if libc == "" || !slices.Contains(im.Libraries, interp) {
		t.Fatalf("libraries = %v, want %s and a libc.so.6", im.Libraries, interp)
	}
	same(libc, libc)
	if files[interp].mode&0o111 == 0 {
		t.Errorf("%s is not executable: %v", interp, files[interp].mode)
	}
	back, err := ReadImage(out)
	if err != nil || !slices.Equal(back.Libraries, im.Libraries) {
		t.Errorf("image.json libraries = %v, %v; want %v", back, err, im.Libraries)
	}
	t.Logf("libraries: %v; initramfs %d bytes", im.Libraries, im.InitrdBytes)
}

// TestBuildAStaticInitAddsNoLibraries: a static build is /init alone.
// staticTestBinary builds an empty static Go program.
func staticTestBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	bin := filepath.Join(dir, "static")
	build := exec.Command("go", "build", "-o", bin, "main.go")
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBuildAStaticInitAddsNoLibraries(t *testing.T) {
	dir := t.TempDir()
	bin := staticTestBinary(t)
	im, err := Build(context.Background(), Options{App: AppHTTP, Kernel: fakeKernel(t), Binary: bin, OutDir: filepath.Join(dir, "image")})
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Libraries) != 0 {
		t.Errorf("libraries = %v, want none", im.Libraries)
	}
	data, _ := os.ReadFile(filepath.Join(im.Dir, ImageFile))
	if strings.Contains(string(data), "libraries") {
		t.Errorf("image.json of a static init names libraries:\n%s", data)
	}
	files := readInitramfs(t, im.InitrdPath())
	for name, e := range files {
		if strings.Contains(name, ".so") {
			t.Errorf("%s (%v) in a static init's image", name, e.mode)
		}
	}
}

// TestWithLibrariesNamesWhatIsMissing builds a program against a library
// of its own (with gcc) and checks that each way the guest's loader would
// not find it fails with a named error naming the library and the binary,
// and that a library found through RUNPATH is packed where RUNPATH says.
func TestWithLibrariesNamesWhatIsMissing(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		testbin.SkipOrFail(t, "gcc not installed: cannot build a program with a library of its own")
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	os.Mkdir(lib, 0o755)
	os.WriteFile(filepath.Join(dir, "foo.c"), []byte("int foo(void) { return 42; }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.c"), []byte("int foo(void);\nint main(void) { return foo() != 42; }\n"), 0o644)
	gcc := func(args ...string) {
		t.Helper()
		cmd := exec.Command("gcc", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	gcc("-shared", "-fPIC", "-o", "lib/libukbenchfoo.so", "foo.c")
	gcc("-o", "plain", "main.c", "-Llib", "-lukbenchfoo")
	gcc("-o", "rpath", "main.c", "-Llib", "-lukbenchfoo", "-Wl,-rpath,"+lib)
	gcc("-o", "origin", "main.c", "-Llib", "-lukbenchfoo", "-Wl,-rpath,$ORIGIN/lib")
	ctx := context.Background()
	add := func(src, dst string) (*appFiles, error) {
		a := &appFiles{files: map[string]hostFile{}}
		return a, a.withLibraries(ctx, filepath.Join(dir, src), dst)
	}

	_, err := add("plain", "/init")
	if !errors.Is(err, ErrMissingLibrary) || !strings.Contains(err.Error(), "libukbenchfoo.so") || !strings.Contains(err.Error(), filepath.Join(dir, "plain")) {
		t.Errorf("a library the loader does not find: %v", err)
	}
	t.Log(err)
	t.Setenv("LD_LIBRARY_PATH", lib) // found here, not in the guest
	_, err = add("plain", "/init")
	if !errors.Is(err, ErrMissingLibrary) || !strings.Contains(err.Error(), "LD_LIBRARY_PATH") {
		t.Errorf("a library found only through LD_LIBRARY_PATH: %v", err)
	}
	t.Log(err)
	_, err = add("origin", "/init")
	if !errors.Is(err, ErrLibraryPath) || !strings.Contains(err.Error(), "$ORIGIN") {
		t.Errorf("$ORIGIN with the binary moved to /init: %v", err)
	}
	t.Log(err)
	if _, err := add("origin", filepath.Join(dir, "origin")); err != nil {
		t.Errorf("$ORIGIN with the binary where it is: %v", err)
	}
	a, err := add("rpath", "/init")
	if err != nil {
		t.Fatal(err)
	}
	foo := filepath.Join(lib, "libukbenchfoo.so")
	if f, ok := a.files[foo]; !ok || f.src != foo || !slices.Contains(a.libs, foo) {
		t.Errorf("the RUNPATH library is not packed at %s: files %v, libs %v", foo, a.files, a.libs)
	}

	// What ldd (with the host's cache) says and what the loader says
	// without it differ: the guest would load something else.
	bin := filepath.Join(dir, "rpath")
	interp := dynamicInterp(t, bin)
	objs, _ := parseLoaderList("libukbenchfoo.so => " + foo + " (0x1)\nlibc.so.6 => /opt/elsewhere/libc.so.6 (0x1)\n" + interp + " (0x1)\n")
	if err := checkGuestFinds(ctx, bin, interp, objs); !errors.Is(err, ErrLibraryPath) || !strings.Contains(err.Error(), "/opt/elsewhere/libc.so.6") {
		t.Errorf("a library the host takes from elsewhere: %v", err)
	}
	if err := checkGuestFinds(ctx, bin, interp, objs[:1]); !errors.Is(err, ErrLibraryPath) || !strings.Contains(err.Error(), "libc.so.6") {
		t.Errorf("a library ldd did not list: %v", err)
	}
	// A library ldd finds (as through the cache) that the loader, without
	// the cache, does not.
	plain := filepath.Join(dir, "plain")
	if err := checkGuestFinds(ctx, plain, interp, []sharedObject{{"libukbenchfoo.so", foo}}); !errors.Is(err, ErrLibraryPath) || !strings.Contains(err.Error(), "ld.so.cache") || !strings.Contains(err.Error(), plain) {
		t.Errorf("a library found only through the cache: %v", err)
	}
}
