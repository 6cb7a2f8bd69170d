package linuximage

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestFetchInterruptedIsNotAMissingKernel: a fetch that its context ends
// says so, not "no guest kernel … is it a Debian machine".
func TestFetchInterruptedIsNotAMissingKernel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := FetchDebianKernel(ctx, t.TempDir(), "linux-image-amd64", nil)
	if errors.Is(err, ErrNoKernel) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err = %v, want the interruption, not ErrNoKernel", err)
	}
}
