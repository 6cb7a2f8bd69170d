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

// LoadSpec reads a target file: strict YAML, paths expanded, validated;
// errors name the file, line and field.
func LoadSpec(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
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
