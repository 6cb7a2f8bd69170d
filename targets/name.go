package targets

import (
	"fmt"
	"regexp"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// nameRE is what a target's (or a workload's) name may be: it becomes
// part of file names in the result directory (console/NAME-...log,
// hist/...), so it holds no path separator, and starts with neither a dot
// (no "..", no hidden file) nor a dash (no option to a tool).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// MaxNameLen bounds a name: with the workload and repeat it makes a file
// name, which the file system bounds (255 bytes).
const MaxNameLen = 64

// CheckName reports why name cannot label results: a name is letters,
// digits, '.', '_' and '-', not starting with '.' or '-', at most
// MaxNameLen bytes.
func CheckName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%q: at most %d characters", name, MaxNameLen)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%q: want letters, digits, '.', '_' and '-', not starting with '.' or '-' (it names files in the result directory)", name)
	}
	return nil
}

// memorySweepName matches the label an experiment's memory sweep gives a
// target (NAME@256MiB), which Validate accepts as NAME.
var memorySweepName = regexp.MustCompile(`^(.*)@[0-9]+MiB$`)

// checkText reports a field whose text cannot go where it goes: a NUL, CR
// or LF in a path (QEMU's command line, a file name in the result), in the
// OSv command line (written into the image: a C string, one line), or in
// the readiness line or probe (one console line, one DNS name, one HTTP
// request line).
func checkText(s Spec) error {
	for _, f := range []struct{ field, value string }{
		{"image", s.Image}, {"kernel_root", s.KernelRoot}, {"kernel", s.Kernel}, {"bootstrap", s.Bootstrap}, {"cmdline", s.Cmdline},
		{"ready_line", s.ReadyLine}, {"probe_name", s.ProbeName}, {"probe_path", s.ProbePath},
	} {
		if err := fielderr.CheckLine(f.field, f.value); err != nil {
			return err
		}
	}
	return nil
}
