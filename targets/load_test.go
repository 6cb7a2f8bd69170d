package targets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/yamlstrict"
)

// TestLoadSpecRefusesHostileFiles: a target file with an alias bomb, or
// over yamlstrict.MaxFileSize, is refused with its name (and the line),
// before anything is decoded.
func TestLoadSpecRefusesHostileFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.yaml")
	bomb := "kind: native\napp: dns\nhost_cpus: [&a [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]]\n"
	os.WriteFile(p, []byte(bomb), 0o644)
	if _, err := LoadSpec(p); !errors.Is(err, yamlstrict.ErrAlias) || !strings.Contains(err.Error(), p+":3: host_cpus[0]: anchor &a") {
		t.Errorf("LoadSpec(alias bomb) = %v, want ErrAlias on line 3", err)
	}
	os.WriteFile(p, []byte("kind: native\napp: dns\n# "+strings.Repeat("x", yamlstrict.MaxFileSize)+"\n"), 0o644)
	if _, err := LoadSpec(p); !errors.Is(err, yamlstrict.ErrTooLarge) || !strings.Contains(err.Error(), p+": file too large") {
		t.Errorf("LoadSpec(large) = %v, want ErrTooLarge", err)
	}
}
