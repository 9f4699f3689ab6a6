package trie_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// The benchmark workload: random channels of 3 to 6 levels, level i drawn
// from a vocabulary of benchVocab[i] words, about 10% of them with one '+'
// level, plus the planted filters below, which match benchTopic. Random
// channels match benchTopic by chance too, so "matches/op" is reported.
var benchVocab = [6]int{16, 64, 256, 1024, 1024, 1024}

const benchTopic = "t1/t2/t3/t4/t5/"

// benchPlanted match benchTopic: all of them in Emitter mode, all but the
// last in MQTT mode.
var benchPlanted = []string{
	"t1/t2/t3/t4/t5/", "t1/+/t3/t4/t5/", "+/t2/t3/t4/t5/", "t1/t2/+/t4/t5/",
	"t1/t2/t3/#/", "t1/t2/#/", "t1/t2/t3/t4/+/", "t1/t2/t3/",
}

// benchFilter returns a random benchmark channel.
func benchFilter(r *rand.Rand, buf []byte) string {
	depth := 3 + r.IntN(4)
	plus := -1
	if r.IntN(10) == 0 {
		plus = r.IntN(depth)
	}
	buf = buf[:0]
	for i := range depth {
		if i == plus {
			buf = append(buf, '+')
		} else {
			buf = append(buf, 'l')
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, 'w')
			buf = strconv.AppendInt(buf, int64(r.IntN(benchVocab[i])), 10)
		}
		buf = append(buf, '/')
	}
	return string(buf)
}

// buildBench returns a trie of mode with n random subscriptions plus the
// planted ones.
func buildBench(mode topic.Mode, n int) *trie.Trie[int] {
	t := trie.New[int](mode)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	var buf [64]byte
	for i := range n - len(benchPlanted) {
		if err := t.Insert(benchFilter(r, buf[:0]), i); err != nil {
			panic(err)
		}
	}
	for i, f := range benchPlanted {
		if err := t.Insert(f, n+i); err != nil {
			panic(err)
		}
	}
	return t
}

var benchSizes = []struct {
	name string
	n    int
}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}}

// benchTries caches the tries shared by the benchmarks: building 1M
// subscriptions takes seconds.
var benchTries struct {
	sync.Mutex
	m map[string]*trie.Trie[int]
}

func benchTrie(mode topic.Mode, n int) *trie.Trie[int] {
	benchTries.Lock()
	defer benchTries.Unlock()
	key := fmt.Sprint(mode, n)
	if t := benchTries.m[key]; t != nil {
		return t
	}
	if benchTries.m == nil {
		benchTries.m = map[string]*trie.Trie[int]{}
	}
	t := buildBench(mode, n)
	benchTries.m[key] = t
	return t
}

func matchCount(t *trie.Trie[int], topic string) int {
	n := 0
	t.Match(topic, func(int) { n++ })
	return n
}

func BenchmarkMatch(b *testing.B) {
	for _, mode := range bothModes {
		for _, size := range benchSizes {
			b.Run(mode.String()+"/subs="+size.name, func(b *testing.B) {
				t := benchTrie(mode, size.n)
				b.ReportAllocs()
				n := 0
				fn := func(int) { n++ }
				for b.Loop() {
					t.Match(benchTopic, fn)
				}
				b.ReportMetric(float64(matchCount(t, benchTopic)), "matches/op")
			})
		}
	}
}

// BenchmarkMatchParallel is BenchmarkMatch run by 2 goroutines at once; with
// no shared write on the read path it should take about half the serial time
// per operation.
func BenchmarkMatchParallel(b *testing.B) {
	for _, mode := range bothModes {
		for _, size := range benchSizes {
			b.Run(mode.String()+"/subs="+size.name, func(b *testing.B) {
				t := benchTrie(mode, size.n)
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					n := 0
					fn := func(int) { n++ }
					for pb.Next() {
						t.Match(benchTopic, fn)
					}
				})
				b.ReportMetric(float64(matchCount(t, benchTopic)), "matches/op")
			})
		}
	}
}

// BenchmarkMatch13 matches a topic with 13 subscribers among 10k exact
// filters, 1k single-wildcard filters and 10 multi-level ones.
func BenchmarkMatch13(b *testing.B) {
	for _, mode := range bothModes {
		b.Run(mode.String(), func(b *testing.B) {
			t := trie.New[int](mode)
			v := 0
			add := func(f string) {
				if err := t.Insert(f, v); err != nil {
					b.Fatal(err)
				}
				v++
			}
			for r := range 10 {
				for s := range 100 {
					for i := range 10 {
						add(fmt.Sprintf("orders/r%d/s%d/i%d/", r, s, i))
					}
				}
			}
			for s := range 50 {
				for i := range 10 {
					add(fmt.Sprintf("orders/+/s%d/i%d/", s, i))
					add(fmt.Sprintf("orders/r%d/s%d/+/", i, s))
				}
			}
			add("#/")
			for range 3 {
				add("orders/#/")
				add("orders/r4/#/")
				add("orders/r4/s42/#/")
			}
			const topic = "orders/r4/s42/i7/"
			if got := matchCount(t, topic); got != 13 {
				b.Fatalf("%d matches, want 13", got)
			}
			b.ReportAllocs()
			n := 0
			fn := func(int) { n++ }
			for b.Loop() {
				t.Match(topic, fn)
			}
		})
	}
}

// BenchmarkSubscribeUnsubscribe measures one Insert plus one Remove of a new
// random channel in a trie that holds subs other subscriptions.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"10k", 10_000}, {"100k", 100_000}} {
		b.Run("subs="+size.name, func(b *testing.B) {
			t := buildBench(topic.Emitter, size.n)
			r := rand.New(rand.NewPCG(99, 1))
			filters := make([]string, 4096)
			for i := range filters {
				filters[i] = benchFilter(r, nil)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f := filters[i%len(filters)]
				i++
				if err := t.Insert(f, -1); err != nil {
					b.Fatal(err)
				}
				if ok, _ := t.Remove(f, -1); !ok {
					b.Fatal("Remove failed")
				}
			}
			if t.Count() != size.n {
				b.Fatalf("Count() = %d, want %d", t.Count(), size.n)
			}
		})
	}
}

// BenchmarkShareGroup matches a topic that reaches 3 share groups of 10
// members each, besides 10 plain subscribers.
func BenchmarkShareGroup(b *testing.B) {
	t := trie.New[int](topic.Emitter)
	for i := range 10 {
		_ = t.Insert("a/b/c/", i)
		for g := range 3 {
			_ = t.Insert("$share/g"+strconv.Itoa(g)+"/a/"+strings.Repeat("+/", i%2)+"b/", 100*g+i)
		}
	}
	b.ReportAllocs()
	n := 0
	fn := func(int) { n++ }
	for b.Loop() {
		t.Match("a/b/c/", fn)
	}
	b.ReportMetric(float64(matchCount(t, "a/b/c/")), "matches/op")
}

// BenchmarkSubscribeUnsubscribeSameChannel measures one Insert plus one
// Remove on a channel that already has subs subscribers (a popular channel,
// whose subscriber list is sharded beyond 128).
func BenchmarkSubscribeUnsubscribeSameChannel(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"100", 100}, {"10k", 10_000}} {
		b.Run("subs="+size.name, func(b *testing.B) {
			t := trie.New[int](topic.Emitter)
			for i := range size.n {
				_ = t.Insert("chat/room/", i)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = t.Insert("chat/room/", -1)
				if ok, _ := t.Remove("chat/room/", -1); !ok {
					b.Fatal("Remove failed")
				}
			}
		})
	}
}

// wideFilters mirrors the "13 matches" set of the peer comparison
// (bench/cmd/compare, wideSet with seed 7): 10,000 distinct exact filters
// metrics/hostH/M/S/, 1,000 filters of that shape with one or two levels
// replaced by '+' (8 of which match the target topic) and 6 '#' filters (4
// of which match). It returns the filters and the literal topics of the
// exact ones, the target "metrics/host42/cpu/load/" first.
func wideFilters() (filters, topics []string) {
	r := rand.New(rand.NewPCG(7, 2))
	host := func(i int) string { return "host" + strconv.Itoa(i) }
	metric := func(i int) string {
		if i == 0 {
			return "cpu"
		}
		return "m" + strconv.Itoa(i)
	}
	stat := func(i int) string {
		if i == 0 {
			return "load"
		}
		return "s" + strconv.Itoa(i)
	}
	join := func(lv []string) string { return strings.Join(lv, "/") + "/" }
	target := []string{"metrics", "host42", "cpu", "load"}
	matches := func(f []string) bool {
		for i, lv := range f {
			if lv != "+" && lv != target[i] {
				return false
			}
		}
		return true
	}
	seen := map[string]bool{join(target): true}
	filters = append(filters, join(target))
	topics = append(topics, join(target))
	for len(seen) < 10_000 {
		f := join([]string{"metrics", host(r.IntN(1000)), metric(r.IntN(100)), stat(r.IntN(10))})
		if !seen[f] {
			seen[f] = true
			filters = append(filters, f)
			topics = append(topics, f)
		}
	}
	filters = append(filters,
		"+/host42/cpu/load/", "metrics/+/cpu/load/", "metrics/host42/+/load/",
		"metrics/host42/cpu/+/", "+/+/cpu/load/", "metrics/+/+/load/",
		"metrics/host42/+/+/", "+/host42/+/load/")
	for n := 0; n < 992; {
		f := []string{"metrics", host(r.IntN(1000)), metric(r.IntN(100)), stat(r.IntN(10))}
		for range 1 + r.IntN(2) {
			f[r.IntN(4)] = "+"
		}
		if !matches(f) {
			filters = append(filters, join(f))
			n++
		}
	}
	filters = append(filters, "#", "metrics/#", "metrics/host42/#", "metrics/host42/cpu/#", "logs/#", "metrics/host7/#")
	return filters, topics
}

// BenchmarkMatchWide is the peer comparison's "13 matches" cell (10k exact,
// 1k '+' and 6 '#' subscriptions, a topic matching 13 of them), so that its
// figure can be reproduced here. rotate looks up the 10k distinct topics of
// the exact filters in turn, as the comparison's rotating cell does.
func BenchmarkMatchWide(b *testing.B) {
	filters, topics := wideFilters()
	for _, mode := range bothModes {
		t := trie.New[int](mode)
		for i, f := range filters {
			if err := t.Insert(f, i); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(mode.String()+"/target", func(b *testing.B) {
			if got := matchCount(t, topics[0]); got != 13 {
				b.Fatalf("%d matches, want 13", got)
			}
			b.ReportAllocs()
			n := 0
			fn := func(int) { n++ }
			for b.Loop() {
				t.Match(topics[0], fn)
			}
		})
		b.Run(mode.String()+"/rotate", func(b *testing.B) {
			b.ReportAllocs()
			n, i := 0, 0
			fn := func(int) { n++ }
			for b.Loop() {
				t.Match(topics[i], fn)
				if i++; i == len(topics) {
					i = 0
				}
			}
		})
	}
}
