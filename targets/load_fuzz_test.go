package targets

import (
	"errors"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/yamlstrict"
)

// FuzzTargetFile: a target file (ukbench boot FILE) of any bytes is
// loaded (LoadSpecBytes: parse, paths expanded, validation) or refused
// with a yamlstrict.ErrConfig that names the file, without a panic or an
// allocation that the bytes decide; a loaded spec validates again. The
// seeds are the targets of the shipped configs and the README, the CLI's
// fixture, and hostile ones (an alias bomb, deep nesting).
func FuzzTargetFile(f *testing.F) {
	f.Add([]byte("kind: native\napp: dns\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "fuzz.yaml"
		s, err := LoadSpecBytes(path, data)
		if err != nil {
			if !errors.Is(err, yamlstrict.ErrConfig) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadSpecBytes = %v, want an ErrConfig naming %s", err, path)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("a loaded spec does not validate: %v", err)
		}
	})
}
