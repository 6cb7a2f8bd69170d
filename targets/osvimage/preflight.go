package osvimage

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrUnsupported: the application needs what OSv lacks, found before any
// boot.
var ErrUnsupported = errors.New("the application needs what OSv lacks")

// processCalls start or replace processes. OSv runs a single process: its
// libc has these only as stubs that fail (runtime.cc: fork and vfork
// return -1), so the kernel exports them and a symbol check alone would
// pass a program that cannot work; a program that calls them is refused
// unless its app says why the configuration ukbench writes never does.
var processCalls = []string{
	"fork", "vfork", "execve", "execv", "execvp", "execvpe", "execl", "execlp",
	"execle", "fexecve", "posix_spawn", "posix_spawnp", "daemon",
}

// elfObject is one ELF file of the application going on the disk.
type elfObject struct {
	guest string // path on the disk
	host  string // file read
	// undefined maps each strong undefined dynamic symbol to whether it
	// is bound at load (a data or GOT relocation) rather than through a
	// PLT slot. OSv binds a PLT slot at its first call, or at load when
	// the file asks for BIND_NOW (Debian builds so), and then leaves a
	// slot it cannot bind lazy with a warning instead of failing
	// (core/elf.cc, object::relocate_pltgot): only a call fails.
	undefined map[string]bool
	defined   []string
	needed    []string // DT_NEEDED
	goProgram bool     // built by Go (OSv v0.57 needs /libvdso.so for it)
	program   bool     // the application's program, not a library
}

// readObject reads what the preflight and the library walk need of an ELF
// file; errors name the file.
func readObject(host, guest string) (*elfObject, error) {
	f, err := elf.Open(host)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not an ELF file: %v", ErrAppBinary, host, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: %s is for %v %v; OSv here is x86-64", ErrAppBinary, host, f.Class, f.Machine)
	}
	o := &elfObject{guest: guest, host: host, undefined: map[string]bool{}}
	o.goProgram = f.Section(".go.buildinfo") != nil || f.Section(".note.go.buildid") != nil
	if o.needed, err = f.ImportedLibraries(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrAppBinary, host, err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, fmt.Errorf("%w: %s: .dynsym: %v", ErrAppBinary, host, err)
	}
	eager, copied, err := eagerSymbols(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: relocations: %v", ErrAppBinary, host, err)
	}
	for i, s := range syms {
		switch {
		case s.Name == "":
		case copied[i+1]: // defined here as a copy of another object's data
			o.undefined[s.Name] = true
		case s.Section != elf.SHN_UNDEF:
			if elf.ST_BIND(s.Info) != elf.STB_LOCAL {
				o.defined = append(o.defined, s.Name)
			}
		case elf.ST_BIND(s.Info) == elf.STB_WEAK: // may stay unresolved
		default:
			o.undefined[s.Name] = eager[i+1] // DynamicSymbols skips index 0
		}
	}
	return o, nil
}

// eagerSymbols returns the .dynsym indexes that a relocation other than a
// PLT slot (R_X86_64_JUMP_SLOT) refers to, those OSv binds at load, and
// among them those of copy relocations (R_X86_64_COPY: data an executable
// defines as a copy of a library's, which .dynsym lists as defined).
func eagerSymbols(f *elf.File) (eager, copied map[int]bool, err error) {
	dynsym := slices.IndexFunc(f.Sections, func(s *elf.Section) bool { return s.Type == elf.SHT_DYNSYM })
	eager, copied = map[int]bool{}, map[int]bool{}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || int(s.Link) != dynsym {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return nil, nil, err
		}
		for ; len(b) >= 24; b = b[24:] {
			info := binary.LittleEndian.Uint64(b[8:])
			if sym, typ := int(info>>32), elf.R_X86_64(info&0xffffffff); sym != 0 && typ != elf.R_X86_64_JMP_SLOT {
				eager[sym] = true
				copied[sym] = copied[sym] || typ == elf.R_X86_64_COPY
			}
		}
	}
	return eager, copied, nil
}

// preflight checks the application's ELF files against the kernel: every
// symbol they need at load must be the kernel's or one of theirs, and none
// may call a process stub (processCalls) unless tolerated says why the
// configuration never does (a library's such calls are warnings: the
// program may never reach them). Symbols missing but bound lazily (called
// through the PLT, so only a call would fail) come back as warnings.
func preflight(k *Kernel, objs []*elfObject, tolerated map[string]string, why string) (warnings []string, err error) {
	have := map[string]bool{}
	for _, o := range objs {
		for _, s := range o.defined {
			have[s] = true
		}
	}
	var refused []string
	for _, o := range objs {
		var missing, lazy, calls []string
		for s, eager := range o.undefined {
			switch {
			case slices.Contains(processCalls, s):
				if _, ok := tolerated[s]; !ok {
					calls = append(calls, s)
				}
			case k.Exports[s] || have[s]:
			case eager:
				missing = append(missing, s)
			default:
				lazy = append(lazy, s)
			}
		}
		sort.Strings(missing)
		sort.Strings(lazy)
		sort.Strings(calls)
		if len(calls) > 0 && !o.program {
			// A library's process calls matter only if the program
			// takes that path (libcap, libsystemd and libgpg-error all
			// link fork): say so, do not refuse.
			warnings = append(warnings, fmt.Sprintf("%s calls %s, stubs that fail on OSv (a single process): only a call fails", o.host, strings.Join(calls, ", ")))
			calls = nil
		}
		if len(calls) > 0 {
			msg := fmt.Sprintf("%s calls %s: OSv runs a single process, where these are stubs that fail", o.host, strings.Join(calls, ", "))
			if why != "" {
				msg += " (" + why + ")"
			}
			refused = append(refused, msg)
		}
		if len(missing) > 0 {
			refused = append(refused, fmt.Sprintf("%s needs %s, which the OSv kernel %s does not export", o.host, strings.Join(missing, ", "), k.Path))
		}
		if len(lazy) > 0 {
			warnings = append(warnings, fmt.Sprintf("%s calls %s, which the OSv kernel does not export: bound lazily, so only a call fails", o.host, strings.Join(lazy, ", ")))
		}
	}
	if len(refused) > 0 {
		return warnings, fmt.Errorf("%w: %s", ErrUnsupported, strings.Join(refused, "; "))
	}
	return warnings, nil
}
