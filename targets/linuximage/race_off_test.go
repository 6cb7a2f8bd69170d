//go:build !race

package linuximage

const raceEnabled = false
