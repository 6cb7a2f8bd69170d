package targets

import (
	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/targets/servers"
)

// ExplicitZeros reports a field the config file sets to 0 where 0 means
// nothing (port, dns_sockets, and the vm's cpus and memory_mib): left as it
// is, 0 would take the default. has says whether the file sets a field of
// the spec (a path below it: "vm", "cpus").
func (s Spec) ExplicitZeros(has func(path ...string) bool) error {
	switch {
	case s.Port == 0 && has("port"):
		return fielderr.Errorf("port", "0: want 1 to 65535 (leave it out for the app's own port)")
	case s.DNSSockets == 0 && has("dns_sockets"):
		return fielderr.Errorf("dns_sockets", "0: want 1 to %d (leave it out for %d)", servers.MaxDNSSockets, servers.DefaultDNSSockets)
	}
	if err := s.VM.ExplicitZeros(func(f string) bool { return has("vm", f) }); err != nil {
		return fielderr.In(err, "vm")
	}
	return nil
}
