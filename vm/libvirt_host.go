package vm

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// LibvirtHost is the provenance of a libvirt backend: what manifest.json
// keeps of the host the guests ran on.
type LibvirtHost struct {
	URI            string `json:"uri"` // without the user name
	Hostname       string `json:"hostname"`
	LibvirtVersion string `json:"libvirt_version"`
	QEMUVersion    string `json:"qemu_version"`
	// Kernel is the host's kernel release. libvirt's API does not say it:
	// it is known for a host that is this one (Local), else empty with
	// KernelNote saying so.
	Kernel     string `json:"kernel,omitempty"`
	KernelNote string `json:"kernel_note,omitempty"`
	CPUModel   string `json:"cpu_model,omitempty"`
	// Error says why the host could not be described.
	Error string `json:"error,omitempty"`
}

// LibvirtProvenance is DescribeLibvirtHost for the manifest: what could
// not be asked is said in Error.
func LibvirtProvenance(uri string) LibvirtHost {
	h, err := DescribeLibvirtHost(uri)
	if err != nil {
		if u, perr := ParseLibvirtURI(uri); perr == nil {
			h.URI = u.Redacted()
		}
		h.Error = err.Error()
	}
	return h
}

// DescribeLibvirtHost asks the daemon at uri for its versions.
func DescribeLibvirtHost(uri string) (LibvirtHost, error) {
	u, err := ParseLibvirtURI(uri)
	if err != nil {
		return LibvirtHost{}, err
	}
	api, err := connectLibvirt(u)
	if err != nil {
		return LibvirtHost{}, err
	}
	defer api.Disconnect()
	return describeLibvirtHost(api, u)
}

func describeLibvirtHost(api libvirtAPI, u LibvirtURI) (LibvirtHost, error) {
	h := LibvirtHost{URI: u.Redacted()}
	var err error
	if h.Hostname, err = api.ConnectGetHostname(); err != nil {
		return h, fmt.Errorf("%w: hostname: %w", ErrLibvirt, err)
	}
	lv, err := api.ConnectGetLibVersion()
	if err != nil {
		return h, fmt.Errorf("%w: libvirt version: %w", ErrLibvirt, err)
	}
	h.LibvirtVersion = libvirtVersion(lv)
	qv, err := api.ConnectGetVersion()
	if err != nil {
		return h, fmt.Errorf("%w: QEMU version: %w", ErrLibvirt, err)
	}
	h.QEMUVersion = libvirtVersion(qv)
	if caps, err := api.ConnectGetCapabilities(); err == nil {
		h.CPUModel = between(caps, "<model>", "</model>")
	}
	if u.Local() {
		var un unix.Utsname
		if unix.Uname(&un) == nil {
			h.Kernel = unix.ByteSliceToString(un.Release[:])
		}
	} else {
		h.KernelNote = "libvirt's API does not report the host's kernel"
	}
	return h, nil
}

// between is the text of s between the first open and the close after it.
func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, close)
	return strings.TrimSpace(v)
}
