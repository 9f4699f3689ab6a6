package trie_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// TestConcurrentReadersWriters runs readers that match without pause while
// writers churn subscriptions (growing and shrinking child tables, creating
// and pruning nodes, share-group members coming and going). Readers check
// that every stable subscription (never removed) is always reported, that
// every reported value was inserted at some point, and that a share group
// with a stable member is reported exactly once. Run it with -race.
func TestConcurrentReadersWriters(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			testConcurrent(t, mode)
		})
	}
}

const (
	stableBase = 10_000 // stable plain values: stableBase + i
	churnBase  = 20_000 // churned plain values
	churnShare = 30_000 // churned members of group "s"
	stableMbr  = 40_000 // the stable member of group "s"
)

func testConcurrent(t *testing.T, mode topic.Mode) {
	tr := trie.New[int](mode)
	m := &model{mode: mode}
	stable := []string{"a/b/c/", "a/+/c/", "a/b/#", "+/b/c/", "x/y/", "a/b/c/d/"}
	topics := []string{"a/b/c/", "a/b/c/d/", "x/y/", "a/q/c/", "z/b/c/"}
	// The stable subscriber of "big/" shares its list with hundreds of
	// churned ones, so the list is sharded, resharded and flattened while
	// readers iterate it.
	stable = append(stable, "big/")
	topics = append(topics, "big/")
	// Nodes s0..s31 have a single stable child until the writer adds
	// siblings, which moves their children from node.one to a table.
	for i := range 32 {
		stable = append(stable, fmt.Sprintf("s%d/q/", i))
		topics = append(topics, fmt.Sprintf("s%d/q/", i))
	}
	for i, f := range stable {
		if err := tr.Insert(f, stableBase+i); err != nil {
			t.Fatal(err)
		}
		m.insert(f, stableBase+i)
	}
	if err := tr.Insert("$share/s/a/b/c/", stableMbr); err != nil {
		t.Fatal(err)
	}
	want := make([][]int, len(topics))
	for i, tp := range topics {
		want[i], _ = m.match(tp, nil)
	}

	ops, readers := 20_000, 2
	if testing.Short() || raceEnabled {
		ops = 4_000
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default: // enough errors already
		}
	}
	var started sync.WaitGroup // the writer starts once every reader runs
	started.Add(readers)
	for r := range readers {
		wg.Go(func() {
			var got []int
			for n := 0; ; n++ {
				if n == 1 {
					started.Done()
				}
				select {
				case <-done:
					return
				default:
				}
				i := n % len(topics)
				got = got[:0]
				shared := 0
				tr.Match(topics[i], func(v int) {
					switch {
					case v >= stableBase && v < stableBase+len(stable):
						got = append(got, v)
					case v >= churnBase && v < churnBase+1000:
					case v >= churnShare && v < churnShare+1000, v == stableMbr:
						shared++
					default:
						report(fmt.Errorf("Match(%q) reported %d, which was never inserted", topics[i], v))
					}
				})
				slices.Sort(got)
				if !slices.Equal(got, want[i]) {
					report(fmt.Errorf("reader %d: Match(%q) stable values = %v, want %v", r, topics[i], got, want[i]))
				}
				if i == 0 && shared != 1 {
					report(fmt.Errorf("reader %d: Match(%q) reported group s %d times, want 1", r, topics[i], shared))
				}
			}
		})
	}

	// The writer: random subscriptions among many siblings, so child tables
	// grow and shrink, and below the stable paths, so nodes are created and
	// pruned next to nodes that readers are walking through.
	r := rand.New(rand.NewPCG(1, 2))
	type sub struct {
		f string
		v int
	}
	var live []sub
	growing := true
	started.Wait()
	prefixes := []string{"a/", "a/b/", "a/b/c/", "+/", "a/+/", "", "x/", "$share/s/a/", "$share/s/a/b/"}
	for range ops {
		// Alternate between growing to 700 subscriptions and shrinking
		// to none, so lists grow past sharding and back.
		switch {
		case len(live) >= 700:
			growing = false
		case len(live) == 0:
			growing = true
		}
		removeP := 3
		if !growing {
			removeP = 7
		}
		if len(live) > 0 && r.IntN(10) < removeP {
			i := r.IntN(len(live))
			if ok, err := tr.Remove(live[i].f, live[i].v); !ok || err != nil {
				t.Errorf("Remove(%q, %d) = %v, %v", live[i].f, live[i].v, ok, err)
			}
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			continue
		}
		p := prefixes[r.IntN(len(prefixes))]
		if r.IntN(4) == 0 {
			p = fmt.Sprintf("s%d/", r.IntN(32))
		}
		f := fmt.Sprintf("%sk%d/", p, r.IntN(200))
		if r.IntN(4) == 0 {
			f += "+/"
		}
		if r.IntN(5) < 2 {
			f = "big/"
		}
		v := churnBase + r.IntN(1000)
		if strings.HasPrefix(p, "$") {
			v = churnShare + r.IntN(1000)
		}
		if err := tr.Insert(f, v); err != nil {
			t.Fatal(err)
		}
		live = append(live, sub{f, v})
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range live {
		_, _ = tr.Remove(s.f, s.v)
	}
	if got := tr.Count(); got != len(stable)+1 {
		t.Errorf("Count() = %d after removing the churn, want %d", got, len(stable)+1)
	}
}
