package trie

import (
	"fmt"
	"github.com/heraldmq/herald/topic"
	"math/rand/v2"
	"runtime"
	"testing"
)

// shape counts what a trie holds in memory.
type shape struct {
	nodes, ones, tables, slots, live, groups, words int
}

func (t *Trie[T]) shape() shape {
	var s shape
	var walk func(n *node[T])
	walk = func(n *node[T]) {
		s.nodes++
		if c := n.plus(); c != nil {
			walk(c)
		}
		if c := n.one.Load(); c != nil {
			s.ones++
			walk(c)
		}
		if tb := n.kids.Load(); tb != nil {
			s.tables++
			s.slots += len(tb.slots)
			for i := range tb.slots {
				if c := tb.slots[i].ptr.Load(); c != nil && c != t.tomb {
					s.live++
					walk(c)
				}
			}
		}
	}
	walk(t.root)
	s.groups = len(t.groups)
	if tb := t.words.Load(); tb != nil {
		s.words = int(tb.live)
	}
	return s
}

// churn subscribes n random filters (with share groups) and unsubscribes them
// all in a random order.
func churn(t testing.TB, tr *Trie[int], r *rand.Rand, n int) {
	type sub struct {
		f string
		v int
	}
	subs := make([]sub, n)
	for i := range subs {
		f := fmt.Sprintf("w%d/x%d/", r.IntN(50), r.IntN(300))
		if r.IntN(3) == 0 {
			f += "+/"
		}
		f += fmt.Sprintf("y%d/#", r.IntN(20))
		switch r.IntN(5) {
		case 0:
			f = fmt.Sprintf("$share/g%d/%s", r.IntN(3000), f)
		case 1:
			f = "w1/pop/" // a popular channel: its list gets sharded
		}
		subs[i] = sub{f, r.IntN(1000)}
		if err := tr.Insert(subs[i].f, subs[i].v); err != nil {
			t.Fatal(err)
		}
	}
	r.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
	for _, s := range subs {
		if ok, err := tr.Remove(s.f, s.v); !ok || err != nil {
			t.Fatalf("Remove(%q, %d) = %v, %v", s.f, s.v, ok, err)
		}
	}
}

// TestMemoryReturnsToBaseline checks that nodes, tables and share groups are
// freed when their last subscriber leaves: after many subscribe/unsubscribe
// cycles the trie has the shape it started with, its tables are not left
// oversized, and the Go heap is back to where it was.
func TestMemoryReturnsToBaseline(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			tr := New[int](mode)
			for i, f := range []string{"w1/", "w1/x1/", "w2/+/y/", "$share/g1/w1/", "z/"} {
				if err := tr.Insert(f, i); err != nil {
					t.Fatal(err)
				}
			}
			base := tr.shape()
			r := rand.New(rand.NewPCG(7, 8))
			n := 20_000
			if raceOn || testing.Short() {
				n = 4_000 // the race detector makes this test slow
			}
			heapBefore := heapAlloc()
			for range 5 {
				churn(t, tr, r, n)
				// A node whose children went through a table keeps a
				// minimal one (see node), so only the totals must match.
				if got := tr.shape(); got.nodes != base.nodes || got.live+got.ones != base.live+base.ones ||
					got.groups != base.groups || got.words != base.words || got.tables > got.nodes {
					t.Fatalf("after a churn the trie has %+v, started with %+v", got, base)
				}
				if got := tr.shape(); got.slots > 8*got.live+minTable*got.tables {
					t.Fatalf("tables did not shrink: %+v", got)
				}
			}
			heapAfter := heapAlloc()
			t.Logf("heap before %d, after %d bytes", heapBefore, heapAfter)
			// n subscriptions take several MB; a leak of even 1% of one
			// churn per cycle would exceed the tolerance.
			const tolerance = 64 << 10
			if heapAfter > heapBefore+tolerance {
				t.Errorf("heap grew from %d to %d bytes over 5 churns of %d subscriptions", heapBefore, heapAfter, n)
			}
			if tr.Count() != 5 {
				t.Errorf("Count() = %d, want 5", tr.Count())
			}
			runtime.KeepAlive(tr)
		})
	}
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestTableGrowShrink drives one node's child table through growth, tombstone
// reuse and shrinking, checking lookups at each step.
func TestTableGrowShrink(t *testing.T) {
	tr := New[int](topic.Emitter)
	const n = 1000
	for i := range n {
		if err := tr.Insert(fmt.Sprintf("r/c%d/", i), i); err != nil {
			t.Fatal(err)
		}
	}
	r := tr.root.child(tr.lookupWord("r"), tr.tomb)
	if tb := r.kids.Load(); tb.live != n || len(tb.slots) < n*4/3 {
		t.Fatalf("table after %d inserts: live %d, %d slots", n, tb.live, len(tb.slots))
	}
	for i := range n - 3 {
		if ok, _ := tr.Remove(fmt.Sprintf("r/c%d/", i), i); !ok {
			t.Fatalf("Remove r/c%d/ failed", i)
		}
		if i%97 == 0 {
			for j := i + 1; j < n; j += 50 {
				if got := tr.MatchAppend(nil, fmt.Sprintf("r/c%d/", j)); len(got) != 1 || got[0] != j {
					t.Fatalf("after removing c0..c%d, Match(r/c%d/) = %v", i, j, got)
				}
			}
		}
	}
	if tb := r.kids.Load(); tb.live != 3 || len(tb.slots) > 32 {
		t.Fatalf("table after removing most children: live %d, %d slots", tb.live, len(tb.slots))
	}
	// Many inserts and removes of the same child leave tombstones that a
	// rebuild must clear; the table must never fill up.
	for i := range 10 * n {
		f := fmt.Sprintf("r/t%d/", i)
		_ = tr.Insert(f, i)
		_, _ = tr.Remove(f, i)
	}
	if tb := r.kids.Load(); tb.live != 3 || int(tb.used) >= len(tb.slots) {
		t.Fatalf("after churn: live %d, used %d of %d slots", tb.live, tb.used, len(tb.slots))
	}
}

// TestOneToTable checks that a reader finds a node's only child at every
// step of its move into a table, when a second child arrives.
func TestOneToTable(t *testing.T) {
	tr := New[int](topic.Emitter)
	_ = tr.Insert("p/a/", 1)
	calls := 0
	testHookOneToTable = func() {
		calls++
		if got := tr.MatchAppend(nil, "p/a/"); len(got) != 1 {
			t.Errorf("during the move to a table, Match(p/a/) = %v, want [1]", got)
		}
	}
	defer func() { testHookOneToTable = nil }()
	_ = tr.Insert("p/b/", 2)
	if calls != 1 {
		t.Fatalf("hook ran %d times, want 1", calls)
	}
	for f, want := range map[string]int{"p/a/": 1, "p/b/": 2} {
		if got := tr.MatchAppend(nil, f); len(got) != 1 || got[0] != want {
			t.Errorf("Match(%s) = %v, want [%d]", f, got, want)
		}
	}
}

// TestMatchTakesNoLock checks that readers never wait for writers: Match,
// Count and All run to completion while the writers' mutex is held (they
// would deadlock here if they took it).
func TestMatchTakesNoLock(t *testing.T) {
	for _, mode := range bothModes {
		tr := New[int](mode)
		_ = tr.Insert("a/+/c/", 1)
		_ = tr.Insert("$share/g/a/b/c/", 2)
		tr.mu.Lock()
		got := tr.MatchAppend(nil, "a/b/c/")
		n := 0
		for range tr.All() {
			n++
		}
		count := tr.Count()
		tr.mu.Unlock()
		if len(got) != 2 || n != 2 || count != 2 {
			t.Errorf("%s: with the writer lock held: Match %v, All %d, Count %d", mode, got, n, count)
		}
	}
}

// TestSetSharding checks that a popular channel's subscriber list is
// sharded as it grows, resharded as it shrinks, and flat again when small.
func TestSetSharding(t *testing.T) {
	tr := New[int](topic.Emitter)
	shards := func() int {
		n := tr.root.child(tr.lookupWord("c"), tr.tomb)
		if s := n.subs.Load(); s != nil && s.big != nil {
			return len(s.big.shards)
		}
		return 0
	}
	const n = 20_000
	for i := range n {
		_ = tr.Insert("c/", i)
		if i == bigMin-1 && shards() != 0 {
			t.Fatalf("sharded at %d values", i+1)
		}
	}
	if k := shards(); k < 64 || k > 256 {
		t.Fatalf("%d values in %d shards", n, k)
	}
	for i := range n - 10 {
		if ok, _ := tr.Remove("c/", i); !ok {
			t.Fatalf("Remove(c/, %d) failed", i)
		}
	}
	if k := shards(); k != 0 {
		t.Fatalf("10 values left in %d shards", k)
	}
	if got := tr.MatchAppend(nil, "c/"); len(got) != 10 {
		t.Fatalf("Match = %v, want the last 10 values", got)
	}
}

// checkWords checks the dictionary of words against the nodes: every node
// of a literal level points to the dictionary's word for its level, each
// word counts exactly the nodes that point to it, and the dictionary holds
// no other word.
func checkWords[T comparable](t *testing.T, tr *Trie[T]) {
	t.Helper()
	refs := map[*word]int{}
	var walk func(n *node[T])
	walk = func(n *node[T]) {
		visit := func(c *node[T]) {
			if c.word == nil {
				t.Fatalf("literal child without a word")
			}
			if w := tr.lookupWord(c.word.s); w != c.word {
				t.Fatalf("node for %q points to word %p, dictionary has %p", c.word.s, c.word, w)
			}
			refs[c.word]++
			walk(c)
		}
		if c := n.plus(); c != nil {
			if c.word != nil {
				t.Fatalf("'+' child with word %q", c.word.s)
			}
			walk(c)
		}
		if c := n.one.Load(); c != nil {
			visit(c)
		}
		if tb := n.kids.Load(); tb != nil {
			for i := range tb.slots {
				if c := tb.slots[i].ptr.Load(); c != nil && c != tr.tomb {
					visit(c)
				}
			}
		}
	}
	walk(tr.root)
	live := 0
	if tb := tr.words.Load(); tb != nil {
		for i := range tb.slots {
			w := tb.slots[i].ptr.Load()
			if w == nil || w == tr.wtomb {
				continue
			}
			live++
			if w.refs != refs[w] {
				t.Fatalf("word %q counts %d nodes, %d point to it", w.s, w.refs, refs[w])
			}
		}
		if live != int(tb.live) {
			t.Fatalf("dictionary says it holds %d words, has %d", tb.live, live)
		}
	}
	if live != len(refs) {
		t.Fatalf("dictionary holds %d words, nodes use %d", live, len(refs))
	}
}

// TestWords runs random subscribes and unsubscribes (with '+', '#', share
// groups and empty levels, in both modes) and checks after each one that
// the dictionary of words agrees with the nodes, and that it is empty once
// every subscription is gone.
func TestWords(t *testing.T) {
	for _, mode := range bothModes {
		r := rand.New(rand.NewPCG(3, 4))
		tr := New[int](mode)
		words := []string{"a", "b", "c", "", "$s", "+", "dd", "eee"}
		type sub struct {
			f string
			v int
		}
		var subs []sub
		for i := range 3000 {
			if len(subs) > 0 && r.IntN(5) < 2 {
				k := r.IntN(len(subs))
				if ok, err := tr.Remove(subs[k].f, subs[k].v); !ok || err != nil {
					t.Fatalf("Remove(%q, %d) = %v, %v", subs[k].f, subs[k].v, ok, err)
				}
				subs = append(subs[:k], subs[k+1:]...)
			} else {
				f := ""
				for range 1 + r.IntN(4) {
					f += words[r.IntN(len(words))] + "/"
				}
				if r.IntN(6) == 0 {
					f += "#/"
				}
				if r.IntN(5) == 0 {
					f = fmt.Sprintf("$share/g%d/%s", r.IntN(3), f)
				}
				if err := tr.Insert(f, i); err != nil {
					t.Fatalf("Insert(%q): %v", f, err)
				}
				subs = append(subs, sub{f, i})
			}
			checkWords(t, tr)
		}
		for _, s := range subs {
			if ok, _ := tr.Remove(s.f, s.v); !ok {
				t.Fatalf("Remove(%q, %d) failed", s.f, s.v)
			}
		}
		checkWords(t, tr)
		if tr.words.Load() != nil {
			t.Fatalf("%s: dictionary not empty after removing everything", mode)
		}
	}
}

var bothModes = []topic.Mode{topic.Emitter, topic.MQTT}
