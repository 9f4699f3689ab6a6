package store_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

const (
	crashEnv      = "HERALD_STORE_CRASH_FILE"
	crashSmallWAL = "HERALD_STORE_CRASH_SMALL_WAL"
)

// TestCrashChild is the child process of TestCrash: it stores messages as
// fast as it can from several goroutines and prints the channel and ID of
// every acknowledged message on stdout, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as the child process of TestCrash")
	}
	open := store.OpenBolt
	if os.Getenv(crashSmallWAL) != "" {
		// A 64 KiB write-ahead log applied every 16 KiB: the kill lands
		// anywhere in its cycle (logging, applying, wrapping around).
		open = func(path string, o store.Options) (*store.Bolt, error) {
			return store.OpenBoltWAL(path, o, 64<<10, 16<<10)
		}
	}
	s, err := open(path, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	acks := make(chan string, 4096)
	go func() {
		w := bufio.NewWriter(os.Stdout)
		for line := range acks {
			w.WriteString(line)
			if len(acks) == 0 {
				w.Flush()
			}
		}
	}()
	var seq atomic.Int64
	tail := rand.Uint64()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ch := fmt.Sprintf("crash/%d/", g)
			for {
				n := 1 + rand.IntN(3)
				batch := make([]store.Message, n)
				for i := range batch {
					batch[i] = store.Message{ID: store.NewID(seq.Add(1), tail), Channel: ch,
						Payload: make([]byte, rand.IntN(512))}
				}
				if err := s.Store(context.Background(), batch...); err != nil {
					fmt.Fprintln(os.Stderr, "store:", err)
					os.Exit(3)
				}
				for _, m := range batch {
					acks <- m.Channel + " " + hex.EncodeToString(m.ID[:]) + "\n"
				}
			}
		})
	}
	wg.Wait()
}

// TestCrash kills a writing child process with SIGKILL after a random number
// of acknowledged messages, then checks that the file opens cleanly and holds
// every acknowledged message. It repeats this several times on the same file,
// every other time with a tiny write-ahead log.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]map[store.ID]bool{}
	total := 0
	for round := range 5 {
		killAfter := 50 + rand.IntN(5000)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		if round%2 == 1 {
			cmd.Env = append(cmd.Env, crashSmallWAL+"=1")
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n, killed := 0, false
		for sc.Scan() {
			var ch, hx string
			if _, err := fmt.Sscan(sc.Text(), &ch, &hx); err != nil {
				t.Fatalf("child output %q: %v", sc.Text(), err)
			}
			b, err := hex.DecodeString(hx)
			if err != nil || len(b) != 16 {
				t.Fatalf("child output %q: %v", sc.Text(), err)
			}
			if acked[ch] == nil {
				acked[ch] = map[store.ID]bool{}
			}
			acked[ch][store.ID(b)] = true
			n++
			if n == killAfter && !killed {
				// Everything printed so far, and anything still in the pipe,
				// was acknowledged before the kill.
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited after %d acknowledgements", round, n)
		}
		total += n

		s, err := store.OpenBolt(path, store.Options{SweepInterval: -1})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		found := 0
		for ch, ids := range acked {
			stored := map[store.ID]bool{}
			q := store.Query{Filter: ch, Matching: topic.MQTT}
			for {
				page, err := s.Query(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, m := range page {
					stored[m.ID] = true
				}
				q.After = page[len(page)-1].ID
			}
			for id := range ids {
				if !stored[id] {
					t.Fatalf("round %d: acknowledged message %s %x lost", round, ch, id)
				}
				found++
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acks (%d read from the pipe), all %d acknowledged so far present",
			round, killAfter, n, found)
	}
}
