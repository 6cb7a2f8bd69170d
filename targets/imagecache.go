package targets

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// cachedImage returns the guest image cached in dir, or builds it there.
// dir is named by the image's content key, so an image found there is the
// one wanted: it is read back (read), its stamp file (stamp, inside dir)
// touched so that pruning keeps it, and used. Otherwise build writes the
// image into a private directory beside dir, which is then renamed into
// place, so that a reader never sees half an image; when another ukbench
// renamed its own build there first, that one is used and this one
// removed, and a broken leftover in dir is replaced. Nothing is left of a
// build that failed.
func cachedImage[T any](dir, stamp string, read func(dir string) (T, error), build func(tmp string) (T, error)) (T, error) {
	if im, err := read(dir); err == nil {
		now := time.Now()
		os.Chtimes(filepath.Join(dir, stamp), now, now) // used: keep it
		return im, nil
	}
	tmp := dir + fmt.Sprintf(".tmp%d", os.Getpid())
	im, err := build(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return im, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if other, rerr := read(dir); rerr == nil {
			os.RemoveAll(tmp) // another ukbench built it meanwhile: use that one
			return other, nil
		}
		os.RemoveAll(dir) // a broken leftover
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			return im, err
		}
	}
	return im, nil
}
