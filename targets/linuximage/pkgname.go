package linuximage

import (
	"fmt"
	"regexp"
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
