package experiment

import (
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// testBinary is a static ukbench for the guests and native servers.
var testBinary string

func TestMain(m *testing.M) { testbin.Main(m, &testBinary) }

func needQEMU(t *testing.T) { t.Helper(); testbin.NeedQEMU(t) }
