package privdir

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const childEnv = "UKBENCH_PRIVDIR_CHILD"

// TestMain lets the test binary, re-exec'd with childEnv=PARENT, be a
// ukbench that makes a private directory in PARENT, says its path and
// waits to be killed.
func TestMain(m *testing.M) {
	if parent := os.Getenv(childEnv); parent != "" {
		d, err := MakeIn(parent, "child")
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.WriteFile(filepath.Join(d.Path, "qmp.sock"), nil, 0o600)
		os.Stdout.WriteString(d.Path + "\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSweepRemovesOnlyDeadOwnersDirectories(t *testing.T) {
	parent := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	childDir := strings.TrimSpace(line)
	if !strings.HasPrefix(filepath.Base(childDir), Prefix+"child-") {
		t.Fatalf("child: %q", line)
	}

	live, err := MakeIn(parent, "live")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	// Not ukbench's: a name without the prefix, and a ukbench-like name
	// without a lock file (someone else's, or one still being made).
	foreign := filepath.Join(parent, "other-dir")
	unlocked := filepath.Join(parent, Prefix+"vm-1-123")
	for _, d := range []string{foreign, unlocked} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(foreign, LockName), nil, 0o600)
	// A symlink to a dead owner's directory is not followed.
	dead := filepath.Join(t.TempDir(), Prefix+"x")
	os.Mkdir(dead, 0o700)
	os.WriteFile(filepath.Join(dead, LockName), nil, 0o600)
	os.Symlink(dead, filepath.Join(parent, Prefix+"link"))

	// The child is alive: nothing goes.
	if removed, err := SweepIn(parent); err != nil || len(removed) != 0 {
		t.Fatalf("sweep with a live child: removed %v, %v; want nothing", removed, err)
	}
	if _, err := os.Stat(childDir); err != nil {
		t.Fatalf("live child's directory: %v", err)
	}

	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	removed, err := SweepIn(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != childDir {
		t.Errorf("sweep after SIGKILL removed %v, want [%s]", removed, childDir)
	}
	if _, err := os.Stat(childDir); !os.IsNotExist(err) {
		t.Errorf("killed child's directory still there: %v", err)
	}
	for _, d := range []string{live.Path, foreign, unlocked, dead, filepath.Join(live.Path, LockName)} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("sweep removed %s: %v", d, err)
		}
	}

	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Errorf("Remove left %s: %v", live.Path, err)
	}
	if err := live.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestMakeNamesOwnerAndMode(t *testing.T) {
	d, err := MakeIn(t.TempDir(), "vm")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	want := Prefix + "vm-" + strconv.Itoa(os.Getpid()) + "-"
	if !strings.HasPrefix(filepath.Base(d.Path), want) {
		t.Errorf("name %s, want it to start with %s", filepath.Base(d.Path), want)
	}
	fi, err := os.Stat(d.Path)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, %v; want 0700", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(d.Path, LockName+".new")); !os.IsNotExist(err) {
		t.Errorf("temporary lock name left: %v", err)
	}
}
