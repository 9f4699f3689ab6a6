//go:build race

package transport_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestSpec, under the race detector, builds this package's tests without it
// and runs the spec suite there: the suite's client (gomqtt v0.14.4) has a
// data race of its own (client.processConnack sets Dup on stored packets
// while Publish encodes them), which would fail the race build whatever the
// broker does. The broker side still runs under the race detector in every
// other test of this package.
func TestSpec(t *testing.T) {
	if testing.Short() {
		t.Skip("the spec suite takes about a minute")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Fatal("the go command is needed to build the spec suite without -race")
		}
	}
	bin := filepath.Join(t.TempDir(), "transport.test")
	build := exec.Command(goBin, "test", "-c", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	args := []string{"-test.run", "^TestSpec$", "-test.count", "1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if testing.Verbose() || err != nil {
		t.Logf("%s", out)
	}
	if err != nil {
		t.Fatalf("spec suite (without -race): %v", err)
	}
}
