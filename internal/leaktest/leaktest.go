// Package leaktest checks that a test leaves no goroutine of Herald's behind.
package leaktest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Check records the goroutines running now and, when the test ends, fails it
// if a goroutine started since then is still running Herald code. Goroutines
// that are on their way out get a grace period of up to five seconds, polled,
// as goleak does.
func Check(t testing.TB) {
	t.Helper()
	before := map[string]bool{}
	for _, g := range stacks() {
		before[id(g)] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var leaked []string
			for _, g := range stacks() {
				if !before[id(g)] && strings.Contains(g, "github.com/heraldmq/herald/") && !strings.Contains(g, "leaktest.") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond) // polling a condition with no event to wait on
		}
	})
}

func stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// id returns the "goroutine N" header of a stack.
func id(g string) string {
	h, _, _ := strings.Cut(g, " [")
	return h
}
