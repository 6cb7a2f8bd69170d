package vm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// The files a guest boots (kernel, initramfs, OSv disk) reach the libvirt
// host through libvirt's storage volume API, into a directory pool of
// ukbench's, as volumes named by their content's SHA-256: a file already
// there (uploaded by an earlier boot, from any host) is found by its hash
// and not sent again. A volume counts only once its ".ok" marker volume
// exists, made after the upload finished, so a torn upload is redone.
const (
	libvirtPool    = "ukbench"
	libvirtPoolDir = "/var/lib/libvirt/images/ukbench"
	okSuffix       = ".ok"
)

// volumeName is a file's volume: 24 hex digits of its SHA-256 and its
// base name (kept to the characters volume names take).
func volumeName(sum, path string) string {
	return sum[:24] + "-" + volNameRE.ReplaceAllString(filepath.Base(path), "_")
}

var volNameRE = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// fileSums memoizes files' SHA-256 by path, size and modification time.
var fileSums sync.Map // fileKey → string

type fileKey struct {
	path string
	size int64
	mod  time.Time
}

func fileSHA256(path string) (string, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	k := fileKey{path, st.Size(), st.ModTime()}
	if s, ok := fileSums.Load(k); ok {
		return s.(string), st.Size(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	s := hex.EncodeToString(h.Sum(nil))
	fileSums.Store(k, s)
	return s, st.Size(), nil
}

// ukbenchPool finds ukbench's pool on the host, or creates it (transient:
// no configuration is left on the host, the files stay as a cache that
// the next creation finds again).
func ukbenchPool(api libvirtAPI) (libvirt.StoragePool, error) {
	p, err := api.StoragePoolLookupByName(libvirtPool)
	if err == nil {
		return p, nil
	}
	if !isLibvirtError(err, libvirt.ErrNoStoragePool) {
		return p, fmt.Errorf("%w: storage pool %s: %w", ErrLibvirt, libvirtPool, err)
	}
	x := fmt.Sprintf("<pool type='dir'><name>%s</name><target><path>%s</path><permissions><mode>0755</mode></permissions></target></pool>", libvirtPool, libvirtPoolDir)
	p, err = api.StoragePoolCreateXML(x, libvirt.StoragePoolCreateWithBuild)
	if err != nil {
		// Another boot may have created it meanwhile.
		if p2, err2 := api.StoragePoolLookupByName(libvirtPool); err2 == nil {
			return p2, nil
		}
		return p, fmt.Errorf("%w: create storage pool %s at %s: %w", ErrLibvirt, libvirtPool, libvirtPoolDir, err)
	}
	return p, nil
}

// uploadFile returns the path on the libvirt host of path's content,
// uploading it unless a finished volume of that content is there.
func uploadFile(api libvirtAPI, pool libvirt.StoragePool, path string) (string, error) {
	sum, size, err := fileSHA256(path)
	if err != nil {
		return "", err
	}
	name := volumeName(sum, path)
	if _, err := api.StorageVolLookupByName(pool, name+okSuffix); err == nil {
		vol, err := api.StorageVolLookupByName(pool, name)
		if err == nil {
			return api.StorageVolGetPath(vol)
		}
	}
	// Torn or missing: start afresh.
	if vol, err := api.StorageVolLookupByName(pool, name); err == nil {
		api.StorageVolDelete(vol, 0)
	}
	vol, err := api.StorageVolCreateXML(pool, volumeXML(name, size), 0)
	if err != nil {
		return "", fmt.Errorf("%w: create volume %s for %s: %w", ErrLibvirt, name, path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		api.StorageVolDelete(vol, 0)
		return "", err
	}
	defer f.Close()
	if err := api.StorageVolUpload(vol, f, 0, uint64(size), 0); err != nil {
		api.StorageVolDelete(vol, 0)
		return "", fmt.Errorf("%w: upload %s to volume %s: %w", ErrLibvirt, path, name, err)
	}
	if _, err := api.StorageVolCreateXML(pool, volumeXML(name+okSuffix, 0), 0); err != nil && !isLibvirtError(err, libvirt.ErrStorageVolExist) {
		return "", fmt.Errorf("%w: mark volume %s finished: %w", ErrLibvirt, name, err)
	}
	pruneVolumes(api, pool, name, keepVolumes)
	return api.StorageVolGetPath(vol)
}

// keepVolumes is how many volumes of one base name (a kernel, an
// initramfs, a disk: every rebuild makes a new one) the pool keeps.
const keepVolumes = 4

// pruneVolumes removes, after the upload of volume keep0, the least
// recently used volumes of the same base name beyond the keep most
// recent (keep0 always kept): last use is the later of the file's access
// and modification times, as the daemon reports them (QEMU reading a
// kernel sets its atime, at least daily under relatime). A volume's
// marker goes first, so that a volume half removed reads as torn. Volumes
// of the files this process's guests boot are kept whatever their age; a
// running guest of another process loses nothing (QEMU has read its
// kernel, and keeps an open disk). Best effort: errors leave volumes.
func pruneVolumes(api libvirtAPI, pool libvirt.StoragePool, keep0 string, keep int) {
	base := volumeBase(keep0)
	vols, _, err := api.StoragePoolListAllVolumes(pool, 1, 0)
	if err != nil {
		return
	}
	type used struct {
		vol libvirt.StorageVol
		at  float64
	}
	var all []used
	for _, v := range vols {
		if v.Name == keep0 || strings.HasSuffix(v.Name, okSuffix) || volumeBase(v.Name) != base {
			continue
		}
		if p, err := api.StorageVolGetPath(v); err == nil && volumeInUse(p) {
			continue
		}
		x, err := api.StorageVolGetXMLDesc(v, 0)
		if err != nil {
			continue
		}
		all = append(all, used{v, lastUse(x)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at > all[j].at })
	for i := keep - 1; i < len(all); i++ { // keep0 is one of the keep
		v := all[i].vol
		if ok, err := api.StorageVolLookupByName(pool, v.Name+okSuffix); err == nil {
			if api.StorageVolDelete(ok, 0) != nil {
				continue
			}
		}
		api.StorageVolDelete(v, 0)
	}
}

// volumeBase is a volume name without its content hash, "" for a name
// that is not volumeName's.
func volumeBase(name string) string {
	if len(name) < 26 || name[24] != '-' || !hexRE.MatchString(name[:24]) {
		return ""
	}
	return name[25:]
}

var hexRE = regexp.MustCompile(`^[0-9a-f]+$`)

// volTimestamps is what a volume's XML says of its file's times (seconds,
// with a fraction).
type volTimestamps struct {
	Atime string `xml:"target>timestamps>atime"`
	Mtime string `xml:"target>timestamps>mtime"`
}

// lastUse is the later of a volume's atime and mtime, 0 when its XML has
// neither.
func lastUse(volXML string) float64 {
	var t volTimestamps
	if xml.Unmarshal([]byte(volXML), &t) != nil {
		return 0
	}
	a, _ := strconv.ParseFloat(t.Atime, 64)
	m, _ := strconv.ParseFloat(t.Mtime, 64)
	return max(a, m)
}

// volumesInUse counts, by path on the libvirt host, the volumes this
// process's guests boot.
var volumesInUse sync.Map // string → *atomic.Int64

func volumeInUse(path string) bool {
	n, ok := volumesInUse.Load(path)
	return ok && n.(*atomic.Int64).Load() > 0
}

// useVolumes counts paths in use until the returned release is called.
func useVolumes(paths ...string) (release func()) {
	var held []*atomic.Int64
	for _, p := range paths {
		if p == "" {
			continue
		}
		n, _ := volumesInUse.LoadOrStore(p, new(atomic.Int64))
		c := n.(*atomic.Int64)
		c.Add(1)
		held = append(held, c)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, c := range held {
				c.Add(-1)
			}
		})
	}
}

// volumeXML is a raw volume of size bytes QEMU (another user under the
// system daemon) may read.
func volumeXML(name string, size int64) string {
	return fmt.Sprintf("<volume><name>%s</name><capacity unit='bytes'>%d</capacity><target><format type='raw'/><permissions><mode>0644</mode></permissions></target></volume>", text(name), size)
}
