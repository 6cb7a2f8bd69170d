package vm

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// liveDomains holds the names of the domains this process runs: created
// and not yet destroyed.
var liveDomains sync.Map

// thisOwner is this process as the owner of a campaign's domain.
func thisOwner(campaign string, started time.Time) domainOwner {
	host, _ := os.Hostname()
	boot, _ := os.ReadFile(bootIDFile)
	return domainOwner{Campaign: campaign, Host: host, PID: os.Getpid(), BootID: strings.TrimSpace(string(boot)), Started: started}
}

// ownerGone says whether a domain's owner can no longer be running it:
// a process on this host that has exited (or ran in an earlier boot), or
// this process, which no longer counts the domain as its own (its
// destroy failed, say while the daemon was down). An owner on another
// host is never judged gone: ukbench cannot see its processes.
func ownerGone(o domainOwner, name string, me domainOwner) bool {
	switch {
	case o.Host != me.Host:
		return false
	case o.BootID != me.BootID:
		return true
	case o.PID == me.PID:
		_, live := liveDomains.Load(name)
		return !live
	}
	return syscall.Kill(o.PID, 0) == syscall.ESRCH
}

// reapLeftovers destroys the campaign's domains whose owner is gone
// (ownerGone) and returns their names. It touches no other domain: one
// without ukbench's metadata element, another campaign's, or one a live
// ukbench runs.
func reapLeftovers(api libvirtAPI, campaign string) ([]string, error) {
	doms, _, err := api.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
	if err != nil {
		return nil, fmt.Errorf("%w: list domains: %w", ErrLibvirt, err)
	}
	me := thisOwner(campaign, time.Time{})
	var destroyed []string
	for _, d := range doms {
		if !strings.HasPrefix(d.Name, domainPrefix(campaign)) {
			continue
		}
		md, err := api.DomainGetMetadata(d, int32(libvirt.DomainMetadataElement), libvirt.OptString{libvirtNS}, 0)
		if err != nil {
			continue // no ukbench element (ErrNoDomainMetadata), or gone meanwhile: not ours to touch
		}
		o, err := parseOwner(md)
		if err != nil || o.Campaign != campaign || !ownerGone(o, d.Name, me) {
			continue
		}
		if err := api.DomainDestroyFlags(d, libvirt.DomainDestroyDefault); err != nil && !isLibvirtError(err, libvirt.ErrNoDomain) {
			return destroyed, fmt.Errorf("%w: destroy leftover %s: %w", ErrLibvirt, d.Name, err)
		}
		destroyed = append(destroyed, d.Name)
	}
	return destroyed, nil
}
