package osvimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/servers"
)

// layoutVersion changes whenever what Build writes for the same inputs
// changes (the ROFS writer, the disk layout, the apps' files and command
// lines), so that a cached image of an older ukbench is not taken for a
// new one.
const layoutVersion = 1

// Key is a digest of everything Build reads for o: the kernel, the
// bootstrap, the application's programs and every library this host's
// loader finds for them (supplied by the kernel or not), with the app, its
// settings and the layout version. Equal keys give equal images (Build is
// reproducible), so a cache may name images by it.
func Key(ctx context.Context, o Options) (string, error) {
	if o.Kernel == nil {
		return "", fmt.Errorf("%w: none given", ErrKernel)
	}
	if o.Sockets == 0 {
		o.Sockets = servers.DefaultDNSSockets
	}
	a, err := appFor(o.App, o.Binary, o.Sockets)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "osv %d\n%s\n%d\n%s\n%s\n", layoutVersion, o.App, o.Sockets, o.Kernel.SHA256, cmdline(a.command))
	if o.Bootstrap != "" {
		if err := hashFile(h, "bootstrap", o.Bootstrap); err != nil {
			return "", err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(a.elfs)) {
		if err := hashFile(h, p, a.elfs[p]); err != nil {
			return "", err
		}
		libs, err := linuximage.HostLibraries(ctx, a.elfs[p])
		if err != nil {
			return "", err
		}
		for _, n := range slices.Sorted(maps.Keys(libs)) {
			if err := hashFile(h, n, libs[n]); err != nil {
				return "", err
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(a.files)) {
		fmt.Fprintf(h, "%s %d\n", p, len(a.files[p]))
		h.Write(a.files[p])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h hash.Hash, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image key: %s: %w", name, err) // the PathError names the file
	}
	defer f.Close()
	fmt.Fprintf(h, "%s\n", name)
	if _, err := io.Copy(h, f); err != nil {
		// A read error of an *os.File is a PathError already; say which
		// file in any case (and as what).
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Path == path {
			return fmt.Errorf("image key: %s: %w", name, err)
		}
		return fmt.Errorf("image key: %s %s: %w", name, path, err)
	}
	return nil
}
