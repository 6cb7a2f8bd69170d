// Package cachedir names the one directory where ukbench keeps what it can
// make again but would rather not: fetched kernels, built guest images and
// the accelerator probe's verdict.
package cachedir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Env is the environment variable that overrides the cache's location.
const Env = "UKBENCH_CACHE"

// Dir is $UKBENCH_CACHE, else $XDG_CACHE_HOME/ukbench, else
// ~/.cache/ukbench. It is not created.
func Dir() (string, error) {
	if d := os.Getenv(Env); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: %w (set %s)", err, Env)
	}
	return filepath.Join(d, "ukbench"), nil
}
