// Package osvimage composes an OSv guest from the user's OSv kernel and the
// host's files, without OSv's build: the kernel ELF (booted with QEMU
// -kernel, the command line in -append) and a disk that ukbench writes, an
// MBR whose second entry holds a ROFS file system (rofs.go, disk.go) with
// /etc/fstab, the mount points, and the application with its shared
// libraries in /usr/lib, leaving out what the kernel provides itself
// (kernel.go). Before anything is written, the preflight (preflight.go)
// refuses an application that needs what OSv lacks. The project contains
// no OSv code: the kernel is always the user's file.
package osvimage
