package linuximage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/ukbench/ukbench/targets/servers"
)

// AppDigest is a digest of everything an app puts into the image: the
// host server's binary and every module and shared library it brings
// (their contents, at their paths in the image), the files ukbench writes
// for it, its links, directories and command. An image cache keyed by
// it is rebuilt when a package upgrade changes any of them (a module or a
// library as much as the binary). The ukbench binary (/init) is not in it.
func AppDigest(ctx context.Context, app string, sockets int) (string, error) {
	if sockets == 0 {
		sockets = servers.DefaultDNSSockets
	}
	a, err := appFor(ctx, app, sockets)
	if err != nil {
		return "", err
	}
	return a.digest()
}

func (a *appFiles) digest() (string, error) {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(a.files)) {
		f := a.files[p]
		fmt.Fprintf(h, "file %s %o\n", p, f.perm)
		if f.src == "" {
			fmt.Fprintf(h, "%d\n", len(f.data))
			h.Write(f.data)
			continue
		}
		if err := hashInto(h, f.src); err != nil {
			return "", err
		}
	}
	for _, l := range slices.Sorted(maps.Keys(a.links)) {
		fmt.Fprintf(h, "link %s %s\n", l, a.links[l])
	}
	fmt.Fprintf(h, "dirs %q\ncommand %q\nstarted %q\n", a.dirs, a.command, a.started)
	if a.host != nil {
		fmt.Fprintf(h, "host %s %s %s\n", a.host.Binary, a.host.Version, a.host.Config)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashInto writes a file's size and content into w.
func hashInto(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("app digest: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("app digest: %w", err)
	}
	fmt.Fprintf(w, "%d\n", st.Size())
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("app digest: %s: %w", path, err)
	}
	return nil
}
