package main

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats-server/v2/server/gsl"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// matcher is a subscription index under test. insert and remove are called
// from one goroutine at a time; the functions returned by counter may run
// concurrently with each other and with insert and remove.
type matcher interface {
	insert(filter string, id int) error
	remove(filter string, id int) error
	// counter returns a function, for use by one goroutine, that returns
	// how many subscriptions match topic.
	counter() func(topic string) int
}

// matchImpl is one subscription index implementation and its syntax.
type matchImpl struct {
	impl
	filter func(levels) string
	topic  func(levels) string
	new    func() matcher
}

var matchImpls = []matchImpl{
	{
		impl:   impl{name: "herald", note: "trie.New[int](topic.MQTT); Match with a callback"},
		filter: levels.herald, topic: levels.herald,
		new: func() matcher { return heraldMatcher{trie.New[int](topic.MQTT)} },
	},
	{
		impl:   impl{name: "nats-gsl", ref: "herald", note: "gsl.NewSublist[int]() (uncached); Match with a callback"},
		filter: levels.nats, topic: levels.nats,
		new: func() matcher { return natsMatcher{gsl.NewSublist[int]()} },
	},
	{
		impl:   impl{name: "mochi", ref: "herald", note: "mqtt.NewTopicsIndex(); Subscribe(client, Subscription); Subscribers(topic)"},
		filter: levels.mqtt, topic: levels.mqtt,
		new: func() matcher { return mochiMatcher{mqtt.NewTopicsIndex()} },
	},
}

type heraldMatcher struct{ t *trie.Trie[int] }

func (m heraldMatcher) insert(f string, id int) error { return m.t.Insert(f, id) }
func (m heraldMatcher) remove(f string, id int) error {
	ok, err := m.t.Remove(f, id)
	if err == nil && !ok {
		err = fmt.Errorf("herald: %s %d not found", f, id)
	}
	return err
}
func (m heraldMatcher) counter() func(string) int {
	c := new(paddedCount)
	inc := func(int) { c.n++ }
	return func(topic string) int {
		c.n = 0
		m.t.Match(topic, inc)
		return c.n
	}
}

type natsMatcher struct{ s *gsl.GenericSublist[int] }

func (m natsMatcher) insert(f string, id int) error { return m.s.Insert(f, id) }
func (m natsMatcher) remove(f string, id int) error { return m.s.Remove(f, id) }
func (m natsMatcher) counter() func(string) int {
	c := new(paddedCount)
	inc := func(int) { c.n++ }
	return func(topic string) int {
		c.n = 0
		m.s.Match(topic, inc)
		return c.n
	}
}

// paddedCount is the match count of one counter, alone in its cache line.
// The parallel cells make one counter per goroutine, one right after the
// other: plain ints captured by the callbacks were tiny allocations that
// shared a cache line, so the two goroutines' increments (one per match)
// bounced that line between the cores and the cells measured false sharing
// in the harness instead of the indexes.
type paddedCount struct {
	n int
	_ [56]byte
}

type mochiMatcher struct{ x *mqtt.TopicsIndex }

// clientIDs are mochi's subscriber identities (it indexes subscriptions by
// client id), made once so that no run pays for building them.
var clientIDs struct {
	sync.Mutex
	ids []string
}

func clientID(id int) string {
	clientIDs.Lock()
	defer clientIDs.Unlock()
	for len(clientIDs.ids) <= id {
		clientIDs.ids = append(clientIDs.ids, "client-"+strconv.Itoa(len(clientIDs.ids)))
	}
	return clientIDs.ids[id]
}

func (m mochiMatcher) insert(f string, id int) error {
	m.x.Subscribe(clientID(id), packets.Subscription{Filter: f})
	return nil
}
func (m mochiMatcher) remove(f string, id int) error {
	if !m.x.Unsubscribe(f, clientID(id)) {
		return fmt.Errorf("mochi: %s %d not found", f, id)
	}
	return nil
}
func (m mochiMatcher) counter() func(string) int {
	return func(topic string) int { return len(m.x.Subscribers(topic).Subscriptions) }
}

// built is one implementation's index over a subscription set.
type built struct {
	m      matcher
	topics []string // the set's topics in the implementation's syntax
	bytes  float64  // heap bytes per subscription
}

// build inserts every subscription of s and measures the heap it takes. The
// filter strings are made inside the measured interval, so that an index
// that keeps them is charged for them.
func build(mi matchImpl, s *subSet) (*built, error) {
	before := heapInUse()
	m := mi.new()
	for _, x := range s.subs {
		if err := m.insert(mi.filter(x.f), x.id); err != nil {
			return nil, err
		}
	}
	after := heapInUse()
	b := &built{m: m, bytes: (float64(after) - float64(before)) / float64(len(s.subs))}
	for _, t := range s.topics {
		b.topics = append(b.topics, mi.topic(t))
	}
	// Check that the index agrees with the reference matcher.
	c := m.counter()
	for i, t := range s.topics {
		if i >= 200 {
			break
		}
		if got, want := c(b.topics[i]), s.expected(t); got != want {
			return nil, fmt.Errorf("%s: topic %s matches %d subscriptions, want %d", mi.name, t.mqtt(), got, want)
		}
	}
	runtime.KeepAlive(m)
	return b, nil
}

// matchScenario is one subscription set with its built indexes.
type matchScenario struct {
	key, name string
	n         int // size of a random set, generated when its turn comes
	set       *subSet
	built     map[string]*built
}

func (sc *matchScenario) lookupName(mode string) string {
	if sc.key == "wide" {
		return "13 matches (10k exact + 1k `+` + 6 `#`), " + mode
	}
	return sc.name + ", " + mode
}

func runMatch(cfg config, cal *calibrator) *table {
	impls := make([]impl, len(matchImpls))
	for i, mi := range matchImpls {
		impls[i] = mi.impl
	}
	t := newTable("match", "Workload 1: subscription matching", impls)
	t.notes = append(t.notes,
		"Each index holds the same generated subscriptions, translated to its syntax (Herald `a/+/c/`, NATS `a.*.c`, mochi `a/+/c`); before timing, every index is checked against a brute-force matcher on the scenario's topics, so all report the same matches.",
		"Herald's trie runs in MQTT mode, the semantics the peers share; the publish topics are 5 levels deep and a `#`/`>` filter has at most 4 levels before it, where NATS's `>` and MQTT's `#` agree.",
		"ns/op is the wall time of one lookup that counts its matches; parallel = 2 goroutines looking up at once (wall time divided by lookups). mochi returns its matches as freshly built maps, which is its only API; its allocations make it collect garbage over a heap that also holds the other two indexes of the scenario.",
		"Scenarios run one after the other (each with its rounds interleaved across the three indexes), so that only one scenario's indexes are in memory at a time.",
		"Allocations are counted for the whole process: in the row with a concurrent writer they include the writer's.",
		"Memory is the live heap after inserting the set (two GCs before and after), divided by the number of subscriptions; filter strings are made while measuring, so an index that keeps them pays for them. mochi's client-id strings are made beforehand (they belong to its clients).")

	// Scenarios run one after the other, smallest first, each with all its
	// rounds interleaved across the implementations; only the indexes of
	// the current scenario are alive, so that no index pays for scanning
	// another's heap (mochi allocates on every lookup) and the run stays
	// short.
	var scen []*matchScenario
	f := fanoutSet()
	scen = append(scen, &matchScenario{key: "fanout", name: "100 subs on one topic", set: &f})
	w := wideSet(7)
	wide := &matchScenario{key: "wide", name: "10k exact + 1k `+` + 6 `#` subs, topic matching 13", set: &w}
	scen = append(scen, wide)
	for _, n := range cfg.matchSizes {
		scen = append(scen, &matchScenario{key: "random-" + strconv.Itoa(n), name: fmt.Sprintf("%s random subs, literal topic", count(n)), n: n})
	}

	// Create the rows in display order.
	for _, sc := range scen[2:] {
		for _, mode := range []string{"serial", "parallel"} {
			t.cell("lookup/"+sc.key+"/"+mode, sc.lookupName(mode), unitNsOp)
		}
	}
	for _, sc := range scen[:2] {
		for _, mode := range []string{"serial", "parallel"} {
			t.cell("lookup/"+sc.key+"/"+mode, sc.lookupName(mode), unitNsOp)
		}
	}
	for _, mode := range []string{"serial", "parallel"} {
		t.cell("rotate/"+mode, "rotating over 10k distinct topics (wide set), "+mode, unitNsOp)
	}
	t.cell("contended", "13 matches while a writer subscribes/unsubscribes continuously", unitNsOp)
	for _, n := range cfg.churnSizes {
		t.cell(fmt.Sprintf("subscribe/%d", n), fmt.Sprintf("subscribe, %s existing", count(n)), unitNsOp)
		t.cell(fmt.Sprintf("unsubscribe/%d", n), fmt.Sprintf("unsubscribe, %s existing", count(n)), unitNsOp)
	}
	for _, sc := range append(scen[2:], scen[1]) {
		c := t.cell("mem/"+sc.key, "memory: "+sc.name, unitBytesSub)
		t.single[c.key] = true
	}

	for _, sc := range scen {
		if sc.set == nil {
			s := randomSet(sc.n, uint64(sc.n))
			sc.set = &s
		}
		// Build every index (memory per subscription is measured here).
		sc.built = map[string]*built{}
		for _, mi := range matchImpls {
			progress("match: building %s for %s (%d subs)", mi.name, sc.name, len(sc.set.subs))
			b, err := build(mi, sc.set)
			if err != nil {
				progress("match: %v", err)
				for _, mode := range []string{"serial", "parallel"} {
					t.cell("lookup/"+sc.key+"/"+mode, sc.lookupName(mode), unitNsOp).fail[mi.name] = err.Error()
				}
				continue
			}
			sc.built[mi.name] = b
			if c := t.byKey["mem/"+sc.key]; c != nil {
				c.add(mi.name, b.bytes)
			}
		}
		for round := range cfg.rounds {
			order := rotate(matchImpls, round)
			for _, mode := range []string{"serial", "parallel"} {
				c := t.byKey["lookup/"+sc.key+"/"+mode]
				for _, mi := range order {
					b := sc.built[mi.name]
					if b == nil {
						continue
					}
					r := measureLookups(cal, c.key+"/"+mi.name, cfg.runTime, b, mode == "parallel", false)
					c.add(mi.name, r.nsPerOp)
					c.addAllocs(mi.name, unitAllocs, r.allocsPerOp)
				}
				progress("match round %d/%d: %s: %s", round+1, cfg.rounds, c.name, summary(t, c))
			}
			if sc != wide {
				continue
			}
			// Rotating lookups over the 10k distinct topics of the wide set.
			for _, mode := range []string{"serial", "parallel"} {
				c := t.byKey["rotate/"+mode]
				for _, mi := range order {
					if b := wide.built[mi.name]; b != nil {
						r := measureLookups(cal, c.key+"/"+mi.name, cfg.runTime, b, mode == "parallel", true)
						c.add(mi.name, r.nsPerOp)
						c.addAllocs(mi.name, unitAllocs, r.allocsPerOp)
					}
				}
				progress("match round %d/%d: %s: %s", round+1, cfg.rounds, c.name, summary(t, c))
			}
			// Lookups while a writer subscribes and unsubscribes without pause.
			c := t.byKey["contended"]
			for _, mi := range order {
				if b := wide.built[mi.name]; b != nil {
					r := measureContended(cal, c.key+"/"+mi.name, cfg.runTime, mi, b)
					c.add(mi.name, r.nsPerOp)
					c.addAllocs(mi.name, unitAllocs, r.allocsPerOp)
				}
			}
			progress("match round %d/%d: %s: %s", round+1, cfg.rounds, c.name, summary(t, c))
		}
		sc.built, sc.set = nil, nil
		runtime.GC()
	}

	// Subscribe and unsubscribe cost.
	for _, n := range cfg.churnSizes {
		base := randomSet(n, uint64(n)+1000)
		cs := t.byKey[fmt.Sprintf("subscribe/%d", n)]
		cu := t.byKey[fmt.Sprintf("unsubscribe/%d", n)]
		for round := range cfg.rounds {
			for _, mi := range rotate(matchImpls, round) {
				if _, failed := cs.fail[mi.name]; failed {
					continue
				}
				sub, unsub, err := measureChurn(cal, cfg.runTime, mi, &base, n)
				if err != nil {
					cs.fail[mi.name] = err.Error()
					continue
				}
				cs.add(mi.name, sub.nsPerOp)
				cs.addAllocs(mi.name, unitAllocs, sub.allocsPerOp)
				cu.add(mi.name, unsub.nsPerOp)
				cu.addAllocs(mi.name, unitAllocs, unsub.allocsPerOp)
			}
			progress("match round %d/%d: %s: %s", round+1, cfg.rounds, cs.name, summary(t, cs))
			progress("match round %d/%d: %s: %s", round+1, cfg.rounds, cu.name, summary(t, cu))
		}
	}
	return t
}

// measureLookups times lookups of b's first topic (or, with rotate, of each
// topic in turn), from one goroutine or two.
func measureLookups(cal *calibrator, key string, target time.Duration, b *built, parallel, rotate bool) opResult {
	workers := 1
	if parallel {
		workers = 2
	}
	counters := make([]func(string) int, workers)
	for i := range counters {
		counters[i] = b.m.counter()
	}
	topics := b.topics
	if !rotate {
		topics = topics[:1]
	}
	var sink atomic.Int64
	return cal.ops(key, target, loop(func(n int) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := counters[w]
				total := 0
				j := w * 7919 % len(topics)
				for range n / workers {
					total += c(topics[j])
					if j++; j == len(topics) {
						j = 0
					}
				}
				sink.Add(int64(total))
			}()
		}
		wg.Wait()
	}))
}

// measureContended times lookups of the wide set's target topic while
// another goroutine inserts and removes subscriptions without pause.
func measureContended(cal *calibrator, key string, target time.Duration, mi matchImpl, b *built) opResult {
	r := rand.New(rand.NewPCG(99, 99))
	pool := make([]string, 1000)
	for i := range pool {
		f := levels{"metrics", "host" + strconv.Itoa(r.IntN(1000)), "m" + strconv.Itoa(r.IntN(100)), "+"}
		pool[i] = mi.filter(f)
	}
	const base = 1 << 24 // ids of the writer's subscriptions
	var stop atomic.Bool
	var writes atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			f := pool[i%len(pool)]
			_ = b.m.insert(f, base+i%len(pool))
			_ = b.m.remove(f, base+i%len(pool))
			writes.Add(1)
		}
	}()
	c := b.m.counter()
	topic := b.topics[0]
	var sink int
	res := cal.ops(key, target, loop(func(n int) {
		for range n {
			sink += c(topic)
		}
	}))
	stop.Store(true)
	<-done
	_ = sink
	return res
}

// measureChurn times subscribing new filters to an index holding n random
// subscriptions, then unsubscribing them again.
func measureChurn(cal *calibrator, target time.Duration, mi matchImpl, s *subSet, n int) (sub, unsub opResult, err error) {
	m := mi.new()
	for _, x := range s.subs {
		if err := m.insert(mi.filter(x.f), x.id); err != nil {
			return sub, unsub, err
		}
	}
	r := rand.New(rand.NewPCG(uint64(n), 5))
	fresh := func(k int) []string {
		fs := make([]string, k)
		for i := range fs {
			fs[i] = mi.filter(randomFilter(r))
		}
		return fs
	}
	key := fmt.Sprintf("churn/%d/%s", n, mi.name)
	sub = cal.ops(key+"/sub", target, func(k int) span {
		fs := fresh(k)
		sp := timed(func() {
			for i, f := range fs {
				if e := m.insert(f, n+i); e != nil && err == nil {
					err = e
				}
			}
		})
		for i, f := range fs {
			_ = m.remove(f, n+i)
		}
		return sp
	})
	unsub = cal.ops(key+"/unsub", target, func(k int) span {
		fs := fresh(k)
		for i, f := range fs {
			_ = m.insert(f, n+i)
		}
		return timed(func() {
			for i, f := range fs {
				if e := m.remove(f, n+i); e != nil && err == nil {
					err = e
				}
			}
		})
	})
	runtime.KeepAlive(m)
	return sub, unsub, err
}

// rotate returns xs rotated left by k, so that no implementation always
// runs first in a round.
func rotate[T any](xs []T, k int) []T {
	k %= len(xs)
	return append(append([]T(nil), xs[k:]...), xs[:k]...)
}

// count formats n as 1k, 100k, 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// summary formats the latest value of each implementation in c.
func summary(t *table, c *cell) string {
	s := ""
	for _, im := range t.impls {
		vs := c.values[im.name]
		if len(vs) == 0 {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += im.name + " " + c.unit.format(vs[len(vs)-1])
	}
	return s + " " + c.unit.name
}
