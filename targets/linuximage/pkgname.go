package linuximage

import (
	"fmt"
	"regexp"
	"strings"
)

// debianPackageRE is a Debian package name (Debian Policy 5.6.7): lower
// case letters, digits, '+', '-' and '.', at least two characters,
// starting with a letter or digit. Nothing else is handed to apt-cache,
// apt-get or a cache path: a name such as -o=APT::... would be an option.
var debianPackageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// CheckPackageName reports why pkg is not a Debian package name.
func CheckPackageName(pkg string) error {
	if !debianPackageRE.MatchString(pkg) {
		return fmt.Errorf("%q: not a Debian package name (lower case letters, digits, '+', '-' and '.', starting with a letter or digit, such as %s)", pkg, DefaultPackage)
	}
	return nil
}

// kernelPackagePrefix starts the name of every Debian kernel image
// package: the versioned ones (linux-image-6.1.0-18-amd64, and their
// -unsigned twins) and the metapackages that depend on one
// (linux-image-amd64, linux-image-cloud-amd64, linux-image-rt-amd64).
const kernelPackagePrefix = "linux-image-"

// CheckKernelPackage reports why pkg is not the name of a Debian kernel
// image package, the only packages FetchDebianKernel downloads and
// unpacks: a Debian package name (CheckPackageName) starting with
// linux-image-, and not one of the packages so named that hold no kernel
// (debug symbols, the signing template).
func CheckKernelPackage(pkg string) error {
	if err := CheckPackageName(pkg); err != nil {
		return err
	}
	if !strings.HasPrefix(pkg, kernelPackagePrefix) || len(pkg) == len(kernelPackagePrefix) {
		return fmt.Errorf("%q: not a Debian kernel image package: want linux-image-…, such as %s or linux-image-6.1.0-18-amd64", pkg, DefaultPackage)
	}
	for _, suffix := range []string{"-dbg", "-dbgsym", "-signed-template"} {
		if strings.HasSuffix(pkg, suffix) {
			return fmt.Errorf("%q: a package without a kernel image (%s), want the image package, such as %s", pkg, strings.TrimPrefix(suffix, "-"), strings.TrimSuffix(pkg, suffix))
		}
	}
	return nil
}
