package linuximage

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Errors of the binaries put in an image.
var (
	// ErrGuestBinary: the file cannot be the guest's init (not an x86-64
	// ELF executable).
	ErrGuestBinary = errors.New("not a guest binary")
	// ErrMissingLibrary: a shared object a binary needs is not on this host.
	ErrMissingLibrary = errors.New("shared library missing")
	// ErrLibraryPath: a shared object is on this host, but where the
	// guest's loader, which has no /etc/ld.so.cache, would not find it.
	ErrLibraryPath = errors.New("shared library out of the guest loader's path")
)

// checkGuestBinary fails unless path is an x86-64 ELF executable (static or
// dynamically linked: Build packs the loader and libraries of the latter).
func checkGuestBinary(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: server binary %s: %v", ErrGuestBinary, path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%w: server binary %s is for %v %v; the guest is x86-64 (build with GOARCH=amd64)", ErrGuestBinary, path, f.Class, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%w: server binary %s is an ELF %v, not an executable", ErrGuestBinary, path, f.Type)
	}
	return nil
}

// DefaultBinary is the ukbench to put in images: the running executable,
// static or dynamically linked (go build, go install).
func DefaultBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return exe, checkGuestBinary(exe)
}

// dynamicInfo returns what an ELF file asks of the dynamic loader: its
// interpreter (PT_INTERP, "" for a static executable or a library), the
// libraries it names (DT_NEEDED) and whether its RUNPATH or RPATH is
// relative to its own directory ($ORIGIN).
func dynamicInfo(f *elf.File) (interp string, needed []string, origin bool, err error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				return "", nil, false, fmt.Errorf("PT_INTERP: %w", err)
			}
			interp = string(bytes.TrimRight(data, "\x00"))
		}
	}
	if needed, err = f.ImportedLibraries(); err != nil {
		return "", nil, false, err
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		paths, err := f.DynString(tag)
		if err != nil {
			return "", nil, false, err
		}
		for _, p := range paths {
			origin = origin || strings.Contains(p, "$ORIGIN") || strings.Contains(p, "${ORIGIN}")
		}
	}
	return interp, needed, origin, nil
}

// sharedObject is one line of the dynamic loader's list (ldd's output).
type sharedObject struct {
	name string // as needed (DT_NEEDED), or the path for the interpreter
	path string // where the loader found it; "" when not found
}

// parseLoaderList parses what the glibc loader prints when it traces a
// program (ldd, LD_TRACE_LOADED_OBJECTS=1):
//
//	linux-vdso.so.1 (0x00007ffd...)          the vDSO: the kernel's, skipped
//	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f...)
//	libfoo.so.1 => not found
//
// loaderList asks this host's loader (ldd, with loaderEnv) which shared
// objects src loads, and where it finds them.
func loaderList(ctx context.Context, src string) ([]sharedObject, error) {
	cmd := exec.CommandContext(ctx, "ldd", src)
	cmd.Env = loaderEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w: %s", src, err, strings.TrimSpace(stderr.String()))
	}
	objs, err := parseLoaderList(string(out))
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", src, err)
	}
	return objs, nil
}

// /lib64/ld-linux-x86-64.so.2 (0x00007f...)  the interpreter
func parseLoaderList(out string) ([]sharedObject, error) {
	var objs []sharedObject
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		name, rest, arrow := strings.Cut(line, " => ")
		switch {
		case line == "" || line == "statically linked":
		case arrow && strings.HasPrefix(rest, "not found"):
			objs = append(objs, sharedObject{name: name})
		case arrow && strings.HasPrefix(rest, "/"):
			objs = append(objs, sharedObject{name: name, path: strings.Fields(rest)[0]})
		case arrow && strings.HasPrefix(rest, "("): // an old glibc's vDSO
		case arrow:
			return nil, fmt.Errorf("%s resolved to %q, not an absolute path", name, rest)
		case strings.HasPrefix(line, "/"):
			p := strings.Fields(line)[0]
			objs = append(objs, sharedObject{name: p, path: p})
		case strings.HasSuffix(line, ")") && !strings.Contains(line, "/"): // the vDSO
		default:
			return nil, fmt.Errorf("unexpected line %q", line)
		}
	}
	return objs, nil
}

// loaderEnv is the environment ldd runs in: the guest's, as far as the
// loader cares (no LD_LIBRARY_PATH, LD_PRELOAD...), and untranslated
// messages ("not found").
func loaderEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
}

// checkGuestFinds asks the host's loader how it resolves src without
// /etc/ld.so.cache, as the guest's copy of it will (the guest holds the
// same loader and, at the same paths, the files it found here), and fails
// with ErrLibraryPath when that differs from objs, what ldd found with the
// cache. A loader that cannot say (not glibc's: no --inhibit-cache) is
// taken at ldd's word.
func checkGuestFinds(ctx context.Context, src, interp string, objs []sharedObject) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, interp, "--inhibit-cache", abs)
	cmd.Env = append(loaderEnv(), "LD_TRACE_LOADED_OBJECTS=1")
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	guest, err := parseLoaderList(string(out))
	if err != nil || len(guest) == 0 {
		return nil
	}
	host := map[string]string{}
	for _, o := range objs {
		host[o.name] = o.path
	}
	for _, g := range guest {
		h, ok := host[g.name]
		switch {
		case ok && h == g.path:
		case !ok:
			return fmt.Errorf("%w: without /etc/ld.so.cache, the loader of %s also loads %s (%s), which ldd does not list", ErrLibraryPath, src, g.name, g.path)
		case g.path == "":
			return fmt.Errorf("%w: %s needs %s, which this host's loader finds at %s only through /etc/ld.so.cache; the guest has none (install it in a default library directory such as /usr/lib/x86_64-linux-gnu, or link with -rpath)", ErrLibraryPath, src, g.name, h)
		default:
			return fmt.Errorf("%w: %s needs %s, which this host's loader takes from %s (through /etc/ld.so.cache) but the guest's would take from %s", ErrLibraryPath, src, g.name, h, g.path)
		}
	}
	return nil
}

// HostLibraries returns where this host's loader finds each shared object
// the ELF file src needs, directly or through others (soname → host path),
// as ldd lists them without LD_LIBRARY_PATH; a static file needs none. A
// library the loader does not find fails with ErrMissingLibrary naming it
// and src. Images that place libraries themselves (OSv's, flat in
// /usr/lib) use it to find the files.
func HostLibraries(ctx context.Context, src string) (map[string]string, error) {
	f, err := elf.Open(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	interp, needed, _, err := dynamicInfo(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if interp == "" && len(needed) == 0 {
		return map[string]string{}, nil
	}
	objs, err := loaderList(ctx, src)
	if err != nil {
		return nil, err
	}
	libs := map[string]string{}
	for _, o := range objs {
		if o.path == "" {
			return nil, fmt.Errorf("%w: %s needs %s, which this host's loader does not find", ErrMissingLibrary, src, o.name)
		}
		libs[o.name] = o.path
	}
	return libs, nil
}
