package vm

import (
	"errors"
	"fmt"
	"io"

	"github.com/digitalocean/go-libvirt"
)

// ErrLibvirtLost is returned when the libvirt daemon that runs a guest can
// no longer be reached (it died, or its host or the SSH link did).
var ErrLibvirtLost = errors.New("libvirt connection lost")

// ErrLibvirt marks a libvirt daemon that cannot be reached or that
// refused a request.
var ErrLibvirt = errors.New("libvirt")

// libvirtAPI is the part of go-libvirt's client ukbench uses: a
// *libvirt.Libvirt, or a fake in tests.
type libvirtAPI interface {
	Disconnect() error
	Disconnected() <-chan struct{}

	ConnectGetLibVersion() (uint64, error)
	ConnectGetVersion() (uint64, error)
	ConnectGetHostname() (string, error)
	ConnectGetCapabilities() (string, error)

	ConnectListAllDomains(needResults int32, flags libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, uint32, error)
	DomainGetMetadata(dom libvirt.Domain, typ int32, uri libvirt.OptString, flags libvirt.DomainModificationImpact) (string, error)
	DomainCreateXML(xml string, flags libvirt.DomainCreateFlags) (libvirt.Domain, error)
	DomainResume(dom libvirt.Domain) error
	DomainDestroyFlags(dom libvirt.Domain, flags libvirt.DomainDestroyFlagsValues) error
	DomainGetState(dom libvirt.Domain, flags uint32) (int32, int32, error)
	DomainOpenConsoleBidirectional(dom libvirt.Domain, dev libvirt.OptString, out io.Reader, in io.Writer, flags uint32) error
	DomainMemoryStats(dom libvirt.Domain, maxStats uint32, flags uint32) ([]libvirt.DomainMemoryStat, error)

	StoragePoolLookupByName(name string) (libvirt.StoragePool, error)
	StoragePoolCreateXML(xml string, flags libvirt.StoragePoolCreateFlags) (libvirt.StoragePool, error)
	StorageVolLookupByName(pool libvirt.StoragePool, name string) (libvirt.StorageVol, error)
	StorageVolCreateXML(pool libvirt.StoragePool, xml string, flags libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error)
	StorageVolUpload(vol libvirt.StorageVol, r io.Reader, offset, length uint64, flags libvirt.StorageVolUploadFlags) error
	StorageVolGetPath(vol libvirt.StorageVol) (string, error)
	StorageVolDelete(vol libvirt.StorageVol, flags libvirt.StorageVolDeleteFlags) error
	StoragePoolListAllVolumes(pool libvirt.StoragePool, needResults int32, flags uint32) ([]libvirt.StorageVol, uint32, error)
	StorageVolGetXMLDesc(vol libvirt.StorageVol, flags uint32) (string, error)
}

var _ libvirtAPI = (*libvirt.Libvirt)(nil)

// connectLibvirt opens a control connection to the daemon at u; a
// variable so tests can hand out fakes.
var connectLibvirt = func(u LibvirtURI) (libvirtAPI, error) {
	d, err := u.dialer()
	if err != nil {
		return nil, err
	}
	l := libvirt.NewWithDialer(d)
	if err := l.ConnectToURI(libvirt.RemoteURI(u.u)); err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %w", ErrLibvirt, u.Redacted(), err)
	}
	return l, nil
}

// isLibvirtError says whether err is libvirt's error code.
func isLibvirtError(err error, code libvirt.ErrorNumber) bool {
	var e libvirt.Error
	return errors.As(err, &e) && e.Code == uint32(code)
}

// libvirtVersion formats libvirt's version number (major*1e6 +
// minor*1e3 + release), as virsh version does.
func libvirtVersion(v uint64) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}
