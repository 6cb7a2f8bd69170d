package results

import "fmt"

// Believer decides which runs of one result set a reader may believe:
// those CheckRun accepts and, of several records of one run (target,
// workload, repeat), the first. ReadRunsWarn believes through one per
// file, and the report through one per result set, whatever the runs'
// origin. The zero value is ready; a Believer is not safe for concurrent
// use.
type Believer struct {
	first map[runKey]string // where each believed run was found
}

// runKey is what names a run in a result set.
type runKey struct {
	target, workload string
	repeat           int
}

// Believe returns nil when r is believed, remembering it as found at
// (such as "line 3"; "" when it has no place). Otherwise it says why not:
// CheckRun's error (wrapping ErrImplausible), or an error wrapping
// ErrDuplicate that says where the first record of r's run was found.
func (b *Believer) Believe(r Run, at string) error {
	if err := CheckRun(r); err != nil {
		return err
	}
	k := runKey{r.Target, r.Workload, r.Repeat}
	if first, ok := b.first[k]; ok {
		if first == "" {
			return fmt.Errorf("%w: an earlier record of it is used", ErrDuplicate)
		}
		return fmt.Errorf("%w: %s has it already", ErrDuplicate, first)
	}
	if b.first == nil {
		b.first = map[runKey]string{}
	}
	b.first[k] = at
	return nil
}
