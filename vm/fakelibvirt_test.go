package vm

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/digitalocean/go-libvirt"
)

// fakeLibvirt is a libvirt daemon in memory: domains (with metadata and a
// console that prints lines and ends when the domain is destroyed),
// a storage pool and its volumes. fail makes the named method fail.
type fakeLibvirt struct {
	mu        sync.Mutex
	fail      map[string]error
	domains   map[string]*fakeDomain
	pool      bool
	vols      map[string][]byte
	volTimes  map[string]float64 // the volumes' atime (and mtime), by name
	clock     float64            // the fake's time, a second on per volume made
	uploads   int
	created   []string // XML of each DomainCreateXML
	resumes   int      // DomainResume calls
	destroyed []string
	conns     int // connections open
	lost      chan struct{}
	console   []string // lines every domain prints once resumed
	caps      string
	// openHeld, when set, holds the daemon's opening of a console until
	// it is closed (a daemon slow to answer).
	openHeld chan struct{}
}

type fakeDomain struct {
	metadata string
	running  bool
	console  *io.PipeWriter
	resumed  chan struct{}
	gone     chan struct{}
	// held is closed once a console stream holds the guest's console:
	// lines printed before are lost, as QEMU drops a pty's output while
	// nothing holds its other end.
	held chan struct{}
}

func newFakeLibvirt() *fakeLibvirt {
	return &fakeLibvirt{fail: map[string]error{}, domains: map[string]*fakeDomain{}, vols: map[string][]byte{}, lost: make(chan struct{}),
		console: []string{"fake guest: booting", "fake guest: ready"}, caps: "<capabilities><host><cpu><model>FakeCPU</model></cpu></host><guest><domain type='qemu'/></guest></capabilities>"}
}

var errFake = libvirt.Error{Code: uint32(libvirt.ErrInternalError), Message: "fake failure"}

func (f *fakeLibvirt) err(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[method]
}

// connect is the connectLibvirt seam for f.
func (f *fakeLibvirt) connect(LibvirtURI) (libvirtAPI, error) {
	if err := f.err("connect"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	return &fakeConn{f: f, lost: f.lost}, nil
}

// loseConnection is the daemon dying: every connection's Disconnected
// closes; later connections work (the daemon is back).
func (f *fakeLibvirt) loseConnection() {
	f.mu.Lock()
	close(f.lost)
	f.lost = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeLibvirt) addDomain(name, metadata string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.domains[name] = &fakeDomain{metadata: metadata, running: true, resumed: make(chan struct{}), gone: make(chan struct{}), held: make(chan struct{})}
}

func (f *fakeLibvirt) domainNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []string
	for k := range f.domains {
		n = append(n, k)
	}
	return n
}

// fakeConn is one connection to f.
type fakeConn struct {
	f      *fakeLibvirt
	lost   chan struct{}
	closed bool
}

func (c *fakeConn) Disconnect() error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.f.conns--
	}
	return nil
}
func (c *fakeConn) Disconnected() <-chan struct{} { return c.lost }
func (c *fakeConn) ConnectGetLibVersion() (uint64, error) {
	return 9000000, c.f.err("ConnectGetLibVersion")
}
func (c *fakeConn) ConnectGetVersion() (uint64, error) { return 7002022, c.f.err("ConnectGetVersion") }
func (c *fakeConn) ConnectGetHostname() (string, error) {
	return "fakehost", c.f.err("ConnectGetHostname")
}
func (c *fakeConn) ConnectGetCapabilities() (string, error) {
	return c.f.caps, c.f.err("ConnectGetCapabilities")
}

func (c *fakeConn) ConnectListAllDomains(int32, libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, uint32, error) {
	if err := c.f.err("ConnectListAllDomains"); err != nil {
		return nil, 0, err
	}
	var d []libvirt.Domain
	for _, n := range c.f.domainNames() {
		d = append(d, libvirt.Domain{Name: n})
	}
	return d, uint32(len(d)), nil
}

func (c *fakeConn) DomainGetMetadata(d libvirt.Domain, typ int32, uri libvirt.OptString, _ libvirt.DomainModificationImpact) (string, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	dom, ok := c.f.domains[d.Name]
	switch {
	case !ok:
		return "", libvirt.Error{Code: uint32(libvirt.ErrNoDomain), Message: "no domain " + d.Name}
	case dom.metadata == "" || len(uri) != 1 || uri[0] != libvirtNS || typ != int32(libvirt.DomainMetadataElement):
		return "", libvirt.Error{Code: uint32(libvirt.ErrNoDomainMetadata), Message: "no metadata"}
	}
	// As libvirt 9.0 does: the element without its namespace.
	md := regexp.MustCompile(`<\w+:(\w+) xmlns:\w+="[^"]*"`).ReplaceAllString(dom.metadata, "<$1")
	return md, nil
}

func (c *fakeConn) DomainCreateXML(x string, flags libvirt.DomainCreateFlags) (libvirt.Domain, error) {
	if err := c.f.err("DomainCreateXML"); err != nil {
		return libvirt.Domain{}, err
	}
	name := between(x, "<name>", "</name>")
	md := between(x, "<metadata>", "</metadata>")
	c.f.addDomain(name, md)
	c.f.mu.Lock()
	c.f.created = append(c.f.created, x)
	c.f.mu.Unlock()
	if flags&libvirt.DomainStartPaused == 0 {
		return libvirt.Domain{}, errors.New("fake: want the domain created paused")
	}
	return libvirt.Domain{Name: name}, nil
}

func (c *fakeConn) dom(d libvirt.Domain) (*fakeDomain, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	dom, ok := c.f.domains[d.Name]
	if !ok {
		return nil, libvirt.Error{Code: uint32(libvirt.ErrNoDomain), Message: "no domain " + d.Name}
	}
	return dom, nil
}

func (c *fakeConn) DomainResume(d libvirt.Domain) error {
	if err := c.f.err("DomainResume"); err != nil {
		return err
	}
	dom, err := c.dom(d)
	if err != nil {
		return err
	}
	c.f.mu.Lock()
	c.f.resumes++
	c.f.mu.Unlock()
	close(dom.resumed)
	return nil
}

func (c *fakeConn) DomainDestroyFlags(d libvirt.Domain, _ libvirt.DomainDestroyFlagsValues) error {
	if err := c.f.err("DomainDestroyFlags"); err != nil {
		return err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	dom, ok := c.f.domains[d.Name]
	if !ok {
		return libvirt.Error{Code: uint32(libvirt.ErrNoDomain), Message: "no domain " + d.Name}
	}
	delete(c.f.domains, d.Name)
	c.f.destroyed = append(c.f.destroyed, d.Name)
	close(dom.gone)
	return nil
}

func (c *fakeConn) DomainGetState(d libvirt.Domain, _ uint32) (int32, int32, error) {
	if _, err := c.dom(d); err != nil {
		return 0, 0, err
	}
	return int32(libvirt.DomainRunning), 0, nil
}

// DomainOpenConsoleBidirectional opens the console (after openHeld, when
// set), then, as go-libvirt does once the daemon has answered, reads the
// input r; it streams the console lines once the domain is resumed (none
// when it was resumed before the console was held) and returns when it is
// destroyed or the connection is lost, as the daemon's stream does.
func (c *fakeConn) DomainOpenConsoleBidirectional(d libvirt.Domain, _ libvirt.OptString, r io.Reader, w io.Writer, _ uint32) error {
	if err := c.f.err("DomainOpenConsole"); err != nil {
		return err
	}
	dom, err := c.dom(d)
	if err != nil {
		return err
	}
	c.f.mu.Lock()
	held := c.f.openHeld
	c.f.mu.Unlock()
	if held != nil {
		<-held
	}
	select {
	case <-dom.resumed:
		// Resumed before the console was held: its lines are gone.
	default:
		close(dom.held)
	}
	go io.Copy(io.Discard, r)
	select {
	case <-dom.resumed:
		select {
		case <-dom.held:
			for _, l := range c.f.console {
				fmt.Fprintln(w, l)
			}
		default:
		}
	case <-dom.gone:
		return nil
	case <-c.lost:
		return errors.New("connection lost")
	}
	select {
	case <-dom.gone:
		return nil
	case <-c.lost:
		return errors.New("connection lost")
	}
}

func (c *fakeConn) DomainMemoryStats(d libvirt.Domain, _, _ uint32) ([]libvirt.DomainMemoryStat, error) {
	if _, err := c.dom(d); err != nil {
		return nil, err
	}
	return []libvirt.DomainMemoryStat{{Tag: int32(libvirt.DomainMemoryStatActualBalloon), Val: 1048576}, {Tag: int32(libvirt.DomainMemoryStatRss), Val: 123456}}, nil
}

func (c *fakeConn) StoragePoolLookupByName(name string) (libvirt.StoragePool, error) {
	if err := c.f.err("StoragePoolLookupByName"); err != nil {
		return libvirt.StoragePool{}, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if !c.f.pool {
		return libvirt.StoragePool{}, libvirt.Error{Code: uint32(libvirt.ErrNoStoragePool), Message: "no pool"}
	}
	return libvirt.StoragePool{Name: name}, nil
}

func (c *fakeConn) StoragePoolCreateXML(x string, _ libvirt.StoragePoolCreateFlags) (libvirt.StoragePool, error) {
	if err := c.f.err("StoragePoolCreateXML"); err != nil {
		return libvirt.StoragePool{}, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.pool = true
	return libvirt.StoragePool{Name: libvirtPool}, nil
}

func (c *fakeConn) StorageVolLookupByName(p libvirt.StoragePool, name string) (libvirt.StorageVol, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if _, ok := c.f.vols[name]; !ok {
		return libvirt.StorageVol{}, libvirt.Error{Code: uint32(libvirt.ErrNoStorageVol), Message: "no vol"}
	}
	return libvirt.StorageVol{Pool: p.Name, Name: name}, nil
}

func (c *fakeConn) StorageVolCreateXML(p libvirt.StoragePool, x string, _ libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error) {
	if err := c.f.err("StorageVolCreateXML"); err != nil {
		return libvirt.StorageVol{}, err
	}
	name := between(x, "<name>", "</name>")
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if _, ok := c.f.vols[name]; ok {
		return libvirt.StorageVol{}, libvirt.Error{Code: uint32(libvirt.ErrStorageVolExist), Message: "exists"}
	}
	c.f.vols[name] = nil
	if c.f.volTimes == nil {
		c.f.volTimes = map[string]float64{}
	}
	c.f.clock++
	c.f.volTimes[name] = 1e9 + c.f.clock
	return libvirt.StorageVol{Pool: p.Name, Name: name}, nil
}

func (c *fakeConn) StorageVolUpload(v libvirt.StorageVol, r io.Reader, _, length uint64, _ libvirt.StorageVolUploadFlags) error {
	if err := c.f.err("StorageVolUpload"); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(length)))
	if err != nil {
		return err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.vols[v.Name] = b
	c.f.uploads++
	return nil
}

func (c *fakeConn) StorageVolGetPath(v libvirt.StorageVol) (string, error) {
	return libvirtPoolDir + "/" + v.Name, nil
}

func (c *fakeConn) StorageVolDelete(v libvirt.StorageVol, _ libvirt.StorageVolDeleteFlags) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	delete(c.f.vols, v.Name)
	return nil
}

func (c *fakeConn) StoragePoolListAllVolumes(p libvirt.StoragePool, _ int32, _ uint32) ([]libvirt.StorageVol, uint32, error) {
	if err := c.f.err("StoragePoolListAllVolumes"); err != nil {
		return nil, 0, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	var vols []libvirt.StorageVol
	for n := range c.f.vols {
		vols = append(vols, libvirt.StorageVol{Pool: p.Name, Name: n})
	}
	return vols, uint32(len(vols)), nil
}

func (c *fakeConn) StorageVolGetXMLDesc(v libvirt.StorageVol, _ uint32) (string, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	t := c.f.volTimes[v.Name]
	return fmt.Sprintf("<volume type='file'><name>%s</name><target><path>%s/%s</path><timestamps><atime>%.9f</atime><mtime>%.9f</mtime></timestamps></target></volume>", v.Name, libvirtPoolDir, v.Name, t, t-0.5), nil
}

// touch sets a volume's atime to the fake's now (QEMU read it).
func (f *fakeLibvirt) touch(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock++
	f.volTimes[name] = 1e9 + f.clock
}

// hasVolume says whether a finished volume holds data.
func (f *fakeLibvirt) hasVolume(data string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, b := range f.vols {
		if string(b) == data && !strings.HasSuffix(n, okSuffix) {
			_, ok := f.vols[n+okSuffix]
			return ok
		}
	}
	return false
}
