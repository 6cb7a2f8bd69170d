package targets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/targets/linuximage"
)

// fakeLinuxImage writes, in dir, an image whose kernel and initramfs are
// small files of the content given, described by image.json as Build
// describes its images.
func fakeLinuxImage(dir, kernel, initrd string) (*linuximage.Image, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	im := &linuximage.Image{App: "dns", Kernel: "vmlinux", Initrd: "initramfs.cpio.gz", BootPath: linuximage.BootPVH, Dir: dir}
	for _, f := range []struct {
		name, data string
		bytes      *int64
		sha        *string
	}{{im.Kernel, kernel, &im.KernelBytes, &im.KernelSHA256}, {im.Initrd, initrd, &im.InitrdBytes, &im.InitrdSHA256}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.data), 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(f.data))
		*f.bytes, *f.sha = int64(len(f.data)), hex.EncodeToString(sum[:])
	}
	j, _ := json.Marshal(im)
	return im, os.WriteFile(filepath.Join(dir, linuximage.ImageFile), j, 0o644)
}

// TestCachedImageRebuildsDamage: a cached image whose initramfs was cut
// short, or whose vmlinux has one byte changed at the same size, is
// found damaged when read, built again
// with a message naming it, and the rebuilt image is the one returned
// and left in the cache; an intact one is used as it is.
func TestCachedImageRebuildsDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
		what   string // in the message
	}{
		{"intact", func(string) error { return nil }, ""},
		{"truncated initramfs", func(dir string) error {
			return os.Truncate(filepath.Join(dir, "initramfs.cpio.gz"), 10)
		}, "initramfs.cpio.gz: file differs from its record: 10 bytes"},
		{"same-size corrupt vmlinux", func(dir string) error {
			f, err := os.OpenFile(filepath.Join(dir, "vmlinux"), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{'X'}, 7)
			return err
		}, "vmlinux: file differs from its record: SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "images", "dns-0123456789abcdef")
			builds := 0
			build := func(tmp string) (*linuximage.Image, error) {
				builds++
				return fakeLinuxImage(tmp, "vmlinux, a pretend kernel", "initramfs, a pretend cpio archive")
			}
			var log strings.Builder
			logf := func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
			if _, err := cachedImage(dir, linuximage.ImageFile, linuximage.ReadImage, build, logf); err != nil || builds != 1 {
				t.Fatalf("first: %v, %d builds", err, builds)
			}
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			log.Reset()
			im, err := cachedImage(dir, linuximage.ImageFile, linuximage.ReadImage, build, logf)
			if err != nil {
				t.Fatal(err)
			}
			if tc.what == "" {
				if builds != 1 || log.Len() != 0 {
					t.Errorf("intact image: %d builds, log %q; want it used", builds, log.String())
				}
				return
			}
			if builds != 2 || !strings.Contains(log.String(), "damaged") || !strings.Contains(log.String(), dir) || !strings.Contains(log.String(), tc.what) {
				t.Errorf("%d builds, log %q; want a second build and a message naming %s and %q", builds, log.String(), dir, tc.what)
			}
			if _, err := linuximage.ReadImage(dir); err != nil {
				t.Fatalf("the rebuilt image: %v", err)
			}
			if back, err := linuximage.ReadImage(dir); err == nil && (back.KernelSHA256 != im.KernelSHA256 || back.InitrdSHA256 != im.InitrdSHA256) {
				t.Errorf("returned %+v, the cache holds %+v", im, back)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), privdir.Prefix+"*")); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestCachedImageRemovesLeftovers: what killed builds left in the cache
// (a private build directory whose owner is gone; an earlier version's
// APP-KEY.tmpPID and hidden .APP-KEY.tmpPID.tmp-X directories of a
// process that no longer exists) is removed, saying so; a live build's
// directory and those of a live PID stay.
func TestCachedImageRemovesLeftovers(t *testing.T) {
	images := filepath.Join(t.TempDir(), "osv-images")
	os.MkdirAll(images, 0o755)
	dead := filepath.Join(images, privdir.Prefix+buildKind+"-999-123")
	os.MkdirAll(filepath.Join(dead, "http-0123456789abcdef"), 0o755)
	os.WriteFile(filepath.Join(dead, privdir.LockName), nil, 0o600) // its owner's lock, released by its death
	live, err := privdir.MakeIn(images, buildKind)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	// No process has a PID over Linux's PID_MAX_LIMIT (2^22); a process
	// that ended may see its PID reused (pid_max is 32768 on many hosts).
	const deadPID = 1<<22 + 1
	livePID := os.Getpid()
	var legacyDead, legacyLive []string
	for _, f := range []string{"http-0123456789abcdef.tmp%d", ".http-0123456789abcdef.tmp%d.tmp-4242"} {
		legacyDead = append(legacyDead, filepath.Join(images, fmt.Sprintf(f, deadPID)))
		legacyLive = append(legacyLive, filepath.Join(images, fmt.Sprintf(f, livePID)))
	}
	for _, d := range append(append([]string{}, legacyDead...), legacyLive...) {
		os.MkdirAll(filepath.Join(d, "sub"), 0o755)
	}
	var log strings.Builder
	logf := func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	dir := filepath.Join(images, "http-fedcba9876543210")
	if _, err := cachedImage(dir, linuximage.ImageFile, linuximage.ReadImage, func(tmp string) (*linuximage.Image, error) {
		return fakeLinuxImage(tmp, "k", "i")
	}, logf); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]string{dead}, legacyDead...) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left", d)
		}
		if !strings.Contains(log.String(), "removed "+d) {
			t.Errorf("log %q does not name %s", log.String(), d)
		}
	}
	for _, d := range append([]string{live.Path}, legacyLive...) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
}
