package report

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/testbin"
)

// TestHTMLInChromium opens report.html in headless Chromium (Debian's
// chromium package) and checks that every figure loaded and the console
// logged no error. The page counts its loaded images into
// data-images-loaded. Skipped when Chromium is not installed.
func TestHTMLInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		testbin.SkipOrFail(t, "no Chromium: apt-get install chromium to run the browser check of report.html (make test installs it)")
	}
	dir := t.TempDir()
	if _, err := Write(dir, reportFixture(), []string{"png"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
		"--dump-dom", "file://"+filepath.Join(dir, "report.html"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`data-images-loaded="(\d+)/(\d+)"`).FindStringSubmatch(string(out))
	if m == nil || m[1] != m[2] || m[2] == "0" {
		t.Errorf("images loaded: %v, want all of them (and at least one)", m)
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "CONSOLE") && (strings.Contains(line, "Error") || strings.Contains(line, "Uncaught")) {
			t.Errorf("console error: %s", line)
		}
	}
}
