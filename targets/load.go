package targets

import (
	"os"

	"github.com/ukbench/ukbench/internal/yamlstrict"
)

// ExpandPaths expands $VAR and ${VAR} in the spec's file paths and OSv
// command line.
func (s *Spec) ExpandPaths() {
	for _, p := range []*string{&s.Image, &s.KernelRoot, &s.Kernel, &s.Bootstrap, &s.Cmdline} {
		*p = os.ExpandEnv(*p)
	}
}

// LoadSpec reads a target file (at most yamlstrict.MaxFileSize bytes) and
// returns it as LoadSpecBytes does.
func LoadSpec(path string) (Spec, error) {
	data, err := yamlstrict.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	return LoadSpecBytes(path, data)
}

// LoadSpecBytes reads the target file path holds data: strict YAML (no
// anchors or aliases), paths expanded, validated (the files it names are
// looked for). Every error wraps yamlstrict.ErrConfig and names the file,
// the line and the field.
func LoadSpecBytes(path string, data []byte) (Spec, error) {
	var s Spec
	if err := yamlstrict.Decode(path, data, &s); err != nil {
		return Spec{}, err
	}
	s.ExpandPaths()
	if err := s.ExplicitZeros(yamlstrict.Parse(data).Has); err != nil {
		return Spec{}, yamlstrict.Locate(path, data, err)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, yamlstrict.Locate(path, data, err)
	}
	return s, nil
}
