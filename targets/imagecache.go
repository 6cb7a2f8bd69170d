package targets

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/ukbench/ukbench/internal/privdir"
)

// cachedImage returns the guest image cached in dir, or builds it there.
// dir is named by the image's content key, so an image found there is the
// one wanted: it is read back (read, which checks its files against their
// recorded sizes and digests), its stamp file (stamp, inside dir) touched
// so that pruning keeps it, and used. A damaged image (read fails, stamp
// there) is built again, saying so through logf. build writes the image
// into a private directory (internal/privdir) beside dir, whose base name
// it then takes, so that a reader never sees half an image and the
// leftovers of a killed build are found (sweepBuilds, run first); when
// another ukbench renamed its own build there first, that one is used and
// this one removed, and a broken leftover in dir is replaced. Nothing is
// left of a build that failed.
func cachedImage[T any](dir, stamp string, read func(dir string) (T, error), build func(tmp string) (T, error), logf func(format string, args ...any)) (T, error) {
	parent := filepath.Dir(dir)
	sweepBuilds(parent, logf)
	im, err := read(dir)
	if err == nil {
		now := time.Now()
		os.Chtimes(filepath.Join(dir, stamp), now, now) // used: keep it
		return im, nil
	}
	if _, serr := os.Stat(filepath.Join(dir, stamp)); serr == nil {
		logf("image: the cached image %s is damaged, building it again: %v", dir, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return im, err
	}
	priv, err := privdir.MakeIn(parent, buildKind)
	if err != nil {
		return im, err
	}
	defer priv.Remove()
	tmp := filepath.Join(priv.Path, filepath.Base(dir))
	im, err = build(tmp)
	if err != nil {
		return im, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if other, rerr := read(dir); rerr == nil {
			return other, nil // another ukbench built it meanwhile: use that one
		}
		os.RemoveAll(dir) // a broken leftover
		if err := os.Rename(tmp, dir); err != nil {
			return im, err
		}
	}
	return im, nil
}

// buildKind names the private directories images are built in.
const buildKind = "build"

// legacyBuildRE matches what builds of earlier ukbench versions left when
// killed: APP-KEY.tmpPID (the build directory) and, for OSv images,
// .APP-KEY.tmpPID.tmp-RANDOM (where the files were written first).
var legacyBuildRE = regexp.MustCompile(`^\.?[a-z0-9]+-[0-9a-f]+\.tmp([0-9]+)(\.tmp-[^/]+)?$`)

// sweepBuilds removes, from an image cache directory, what interrupted
// builds left: private build directories whose owner is gone (privdir),
// and the temporary directories of earlier versions whose process no
// longer exists (a PID in use is left alone: PIDs are reused, so that
// one may stay when it should go, never go when it should stay). Each
// removal is told through logf; errors are only told.
func sweepBuilds(parent string, logf func(format string, args ...any)) {
	removed, err := privdir.SweepIn(parent)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		logf("image: cleaning %s: %v", parent, err)
	}
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		m := legacyBuildRE.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		p := filepath.Join(parent, e.Name())
		if err := os.RemoveAll(p); err != nil {
			logf("image: cleaning %s: %v", parent, err)
			continue
		}
		removed = append(removed, p)
	}
	for _, p := range removed {
		logf("image: removed %s, left by an interrupted build", p)
	}
}
