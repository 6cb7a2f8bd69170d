package vm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
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
	return api.StorageVolGetPath(vol)
}

// volumeXML is a raw volume of size bytes QEMU (another user under the
// system daemon) may read.
func volumeXML(name string, size int64) string {
	return fmt.Sprintf("<volume><name>%s</name><capacity unit='bytes'>%d</capacity><target><format type='raw'/><permissions><mode>0644</mode></permissions></target></volume>", text(name), size)
}
