package experiment

import (
	"fmt"
	"os"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// testBinary is a static ukbench for the guests and native servers.
var testBinary string

func TestMain(m *testing.M) {
	var err error
	if testBinary, err = testbin.Static(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func needQEMU(t *testing.T) { t.Helper(); testbin.NeedQEMU(t) }
