package linuximage

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestHostAppMissingNamesThePackage: an app whose server the host lacks
// fails the build with the package to install.
func TestHostAppMissingNamesThePackage(t *testing.T) {
	hostApps["fake"] = hostApp{binary: "ukbench-no-such-server", pkg: "ukbench-no-such-package", guestPath: "/usr/sbin/x", version: []string{"-v"}}
	defer delete(hostApps, "fake")
	_, err := HostAppVersion(context.Background(), "fake")
	if !errors.Is(err, ErrAppMissing) || !strings.Contains(err.Error(), "app fake needs ukbench-no-such-server: apt-get install ukbench-no-such-package") {
		t.Fatalf("err = %v, want ErrAppMissing naming the binary and the package", err)
	}
	a := &appFiles{files: map[string]hostFile{}}
	if err := a.withHostApp(context.Background(), "fake"); !errors.Is(err, ErrAppMissing) {
		t.Errorf("withHostApp: %v, want ErrAppMissing", err)
	}
}

// TestHostAppsKnowTheirPackages: every app the guest copies from the host
// is installed by make deps-apps, and the apps' list names each.
func TestHostAppsKnowTheirPackages(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	_, rule, _ := strings.Cut(string(mk), "\ndeps-apps:\n")
	rule, _, _ = strings.Cut(rule, "\n")
	for app, h := range hostApps {
		if !slices.Contains(strings.Fields(rule), h.pkg) {
			t.Errorf("%s: make deps-apps (%q) does not install %s", app, rule, h.pkg)
		}
		if h.pkg == "" || h.binary == "" || !strings.HasPrefix(h.guestPath, "/") {
			t.Errorf("%s: %+v", app, h)
		}
		if !strings.Contains(AppNames, app) || !IsApp(app) {
			t.Errorf("%s missing from AppNames %q", app, AppNames)
		}
	}
	if AppProtocol(AppBind) != "dns" || AppProtocol(AppApache) != "http" {
		t.Error("bind is DNS, apache HTTP")
	}
}

// apacheConf loads exactly the modules withApache copies.
func TestApacheConfLoadsTheCopiedModules(t *testing.T) {
	var loaded []string
	for _, l := range strings.Split(apacheConf, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "LoadModule" {
			loaded = append(loaded, f[2])
		}
	}
	var want []string
	for _, m := range apacheModules {
		want = append(want, apacheModuleDir+"mod_"+m+".so")
	}
	if strings.Join(loaded, " ") != strings.Join(want, " ") {
		t.Errorf("LoadModule files %v, want %v", loaded, want)
	}
}
