package linuximage

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// NetModules are the modules a guest needs for virtio networking on a PCI
// machine (pc, q35); MMIOModules on microvm. Their dependencies are added
// from the modules themselves.
var (
	NetModules  = []string{"virtio_pci", "virtio_net"}
	MMIOModules = []string{"virtio_mmio", "virtio_net"}
)

// moduleIndex maps module names (with '_' for '-') to their files.
type moduleIndex struct {
	dir     string
	files   map[string]string
	builtin map[string]bool
	deps    map[string][]string // from modules.dep, when present
}

func moduleName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

func indexModules(dir string) (*moduleIndex, error) {
	ix := &moduleIndex{dir: dir, files: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			ix.files[moduleName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules %s: %w", dir, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(data)) {
			ix.builtin[moduleName(l)] = true
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "modules.dep")); err == nil {
		ix.deps = map[string][]string{}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			mod, deps, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			var names []string
			for _, d := range strings.Fields(deps) {
				names = append(names, moduleName(d))
			}
			ix.deps[moduleName(mod)] = names
		}
	}
	return ix, nil
}

// depends lists a module's direct dependencies: from modules.dep when the
// tree has one (depmod ran), else from the module's .modinfo section.
func (ix *moduleIndex) depends(name string) ([]string, error) {
	if ix.deps != nil {
		if d, ok := ix.deps[name]; ok {
			return d, nil
		}
	}
	path := ix.files[name]
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w (compressed modules need modules.dep)", name, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var out []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					out = append(out, moduleName(d))
				}
			}
			return out, nil
		}
	}
	return nil, nil
}

// ModuleOrder returns the module files needed for roots, each after the
// modules it depends on. Built-in modules are skipped.
func ModuleOrder(modulesDir string, roots []string) ([]string, error) {
	ix, err := indexModules(modulesDir)
	if err != nil {
		return nil, err
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, name), " -> "))
		}
		if ix.builtin[name] {
			state[name] = 2
			return nil
		}
		if _, ok := ix.files[name]; !ok {
			return fmt.Errorf("module %s: not in %s (needed by %s)", name, modulesDir, strings.Join(chain, " -> "))
		}
		state[name] = 1
		deps, err := ix.depends(name)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, ix.files[name])
		return nil
	}
	for _, r := range roots {
		if err := visit(moduleName(r), nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
