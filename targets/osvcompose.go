package targets

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/targets/osvimage"
	"github.com/ukbench/ukbench/vm"
)

// OSvImage returns the image an osv target composes from its kernel and
// app (osvimage), cached by content in the cache's osv-images/: the same
// kernel, programs, libraries and settings find the image built before.
// Warnings of the preflight go to o.Log when the image is built. A target
// whose image is a directory `ukbench image osv` wrote gets that image,
// which must serve its app.
func OSvImage(ctx context.Context, spec Spec, o BootOptions) (*osvimage.Image, error) {
	if spec.Image != "" {
		im, err := osvimage.ReadImage(spec.Image)
		if err != nil {
			return nil, err
		}
		if im.App != spec.App {
			return nil, fmt.Errorf("image %s serves %q, the target says app %q", spec.Image, im.App, spec.App)
		}
		return im, nil
	}
	// Reading the kernel and hashing the inputs take a moment; a process
	// that boots the same guest again (every repeat of a campaign) reuses
	// what it found, as LinuxImage does.
	memoKey := strings.Join([]string{"osv", spec.App, spec.Kernel, spec.Bootstrap, fmt.Sprint(spec.DNSSockets), o.Binary, o.CacheDir}, "\x00")
	if v, ok := imageMemo.Load(memoKey); ok {
		if im, err := osvimage.ReadImage(v.(string)); err == nil {
			return im, nil
		}
	}
	im, err := composeOSv(ctx, spec, o)
	if err == nil {
		imageMemo.Store(memoKey, im.Dir)
	}
	return im, err
}

func composeOSv(ctx context.Context, spec Spec, o BootOptions) (*osvimage.Image, error) {
	k, err := osvimage.ReadKernel(spec.Kernel)
	if err != nil {
		return nil, err // it says "kernel" and names the file
	}
	opts := osvimage.Options{App: spec.App, Kernel: k, Bootstrap: spec.Bootstrap, Sockets: spec.DNSSockets}
	if spec.App == osvimage.AppDNS || spec.App == osvimage.AppHTTP {
		if opts.Binary, err = osvimage.PIEFor(o.Binary); err != nil {
			return nil, err
		}
	}
	key, err := osvimage.Key(ctx, opts)
	if err != nil {
		return nil, err
	}
	cache := o.CacheDir
	if cache == "" {
		if cache, err = cachedir.Dir(); err != nil {
			return nil, err
		}
	}
	images := filepath.Join(cache, "osv-images")
	dir := filepath.Join(images, spec.App+"-"+key[:16])
	im, err := cachedImage(dir, osvimage.ImageFile, osvimage.ReadImage, func(tmp string) (*osvimage.Image, error) {
		pruneImages(images, spec.App, osvimage.ImageFile, keepImages)
		o.logf("image: composing the OSv %s guest (kernel %s) in %s", spec.App, k.Path, dir)
		opts.OutDir = tmp
		im, err := osvimage.Build(ctx, opts)
		if err == nil {
			for _, w := range im.Warnings {
				o.logf("image: warning: %s", w)
			}
		}
		return im, err
	}, o.logf)
	if err != nil {
		return nil, err
	}
	im.Dir = dir
	return im, nil
}

// prepareComposedOSv boots the composed image: its kernel with -kernel,
// its disk (raw, snapshot=on like every disk), the command line it was
// composed with (or the target's cmdline), ready at the line its
// application prints.
func prepareComposedOSv(ctx context.Context, spec Spec, shape VMShape, o BootOptions, cfg *vm.Config, p *guestPlan) error {
	im, err := OSvImage(ctx, spec, o)
	if err != nil {
		return err
	}
	p.ready = spec.ReadyLine
	if spec.Cmdline == "" {
		spec.Cmdline = im.Cmdline
		if p.ready == "" {
			p.ready = im.Ready
		}
	}
	if p.ready == "" {
		p.ready = osvReady(spec.Cmdline)
	}
	line, err := osvCmdline(spec, shape)
	if err != nil {
		return err
	}
	cfg.Kernel, cfg.Append = im.KernelPath(), line
	cfg.Disk, cfg.DiskFormat = im.DiskPath(), "raw"
	return nil
}
