package trie

import (
	"github.com/heraldmq/herald/topic"

	"hash/maphash"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
)

// Trie is a set of subscriptions, each a (filter, value) pair, that answers
// which values are subscribed to a topic. The matching rules depend on its
// Mode; the package documentation describes the filter syntax, both modes and
// share groups.
//
// All methods are safe for concurrent use. Match, MatchFiltered, MatchAppend,
// Count and All never take a lock and never wait for a writer; Insert and
// Remove serialise among themselves on a mutex. A Match that runs concurrently
// with an Insert or a Remove may or may not see that change, but it always
// sees every subscription that was in the trie for the whole duration of the
// Match, and it never reports a value that was never inserted.
//
// The zero Trie is not usable; create one with New.
type Trie[T comparable] struct {
	// Read by every Match, written never: kept away from what writers
	// change, so that they do not steal this cache line from readers.
	root  *node[T]
	tomb  *node[T]                    // tombstone of deleted table slots
	words atomic.Pointer[table[word]] // dictionary of the levels of the nodes; replaced rarely
	wtomb *word                       // tombstone of deleted dictionary slots
	seed  maphash.Seed
	mode  topic.Mode
	_     [64]byte

	count     atomic.Int64
	mu        sync.Mutex // serialises writers
	groups    map[string]*group
	maxGroups int    // high-water mark of len(groups), to shrink the map
	nextGroup uint64 // last group id handed out
}

// New returns an empty Trie with the given matching mode. It panics if mode
// is neither topic.Emitter nor topic.MQTT.
func New[T comparable](mode topic.Mode) *Trie[T] {
	if mode != topic.Emitter && mode != topic.MQTT {
		panic("trie: New with unknown " + mode.String())
	}
	return &Trie[T]{
		root:  &node[T]{},
		tomb:  &node[T]{},
		wtomb: &word{},
		seed:  maphash.MakeSeed(),
		mode:  mode,
	}
}

// Matching returns the matching mode the trie was created with.
func (t *Trie[T]) Matching() topic.Mode { return t.mode }

// Count returns the number of subscriptions in the trie, counting a
// subscription inserted twice twice. It is one atomic load.
func (t *Trie[T]) Count() int { return int(t.count.Load()) }

// Insert subscribes v to filter. A filter starting with "$share/<group>/"
// makes v a member of the share group: the group as a whole receives each
// matching topic once, through one of its members.
//
// Subscriptions are a multiset: inserting the same (filter, v) twice stores
// it twice, so that Match reports it twice and it takes two Removes to drop
// it. In Emitter mode "a/#/" is stored as "a/" (they mean the same).
//
// Insert returns a *FilterError, which matches topic.ErrInvalid, if filter is
// not valid; the trie is then unchanged. Insert never blocks a concurrent
// Match.
func (t *Trie[T]) Insert(filter string, v T) error {
	var p parsedFilter
	if err := p.parse(filter); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.root
	i, pos := 0, 0
	for ; i < p.nlev; i++ {
		lv, next := p.next(i, pos)
		var c *node[T]
		if lv == "+" {
			c = n.plus()
		} else {
			c = t.childAt(n, lv)
		}
		if c == nil {
			break
		}
		n, pos = c, next
	}
	var attach, first *node[T]
	var s1 *set1[T] // allocated with the new nodes, for a plain subscription
	if i < p.nlev {
		attach = n
		first, n, s1 = t.chain(&p, i, pos)
	}
	var m *member[T]
	if p.group != "" {
		m = &member[T]{g: t.group(p.group), v: v}
	}
	switch {
	case s1 != nil && m == nil && !(p.hash && t.mode == topic.MQTT):
		s1.one[0] = v
		s1.vals = s1.one[:]
		n.subs.Store(&s1.set)
	case p.hash && t.mode == topic.MQTT:
		e := n.extension()
		e.rest.Store(e.rest.Load().with(v, m, t.seed))
	default:
		n.subs.Store(n.subs.Load().with(v, m, t.seed))
	}
	if attach != nil {
		// Link the new nodes last, so readers see them complete.
		if lv, _ := p.next(i, pos); lv == "+" {
			attach.extension().plus.Store(first)
		} else {
			t.addChild(attach, first)
		}
	}
	t.count.Add(1)
	return nil
}

// chain returns a new chain of nodes for the levels of p from level i (at
// byte pos) to the last one to walk, which are all new, as its first and last
// node, and an empty one-value set. The nodes and the set share one
// allocation; the literal levels are interned (the caller's string may alias
// a reused buffer, and words copy their level). Pruned nodes are empty, so a
// slab kept alive by a live node holds no other memory but its own 40 bytes
// per dead node, the set, and the words of the dead nodes (a node's word
// never changes, as readers may still be comparing it). Writer only.
func (t *Trie[T]) chain(p *parsedFilter, i, pos int) (first, last *node[T], s1 *set1[T]) {
	k := p.nlev - i
	slab, s1 := newSlab[T](k)
	for j := range slab {
		lv, next := p.next(i+j, pos)
		c := &slab[j]
		switch {
		case lv != "+":
			c.word = t.intern(lv)
			if j > 0 {
				slab[j-1].one.Store(c)
			}
		case j > 0:
			slab[j-1].extension().plus.Store(c)
		}
		pos = next
	}
	return &slab[0], &slab[k-1], s1
}

// newSlab allocates k nodes and a one-value set together.
func newSlab[T comparable](k int) ([]node[T], *set1[T]) {
	switch k {
	case 1:
		c := new(struct {
			n [1]node[T]
			s set1[T]
		})
		return c.n[:], &c.s
	case 2:
		c := new(struct {
			n [2]node[T]
			s set1[T]
		})
		return c.n[:], &c.s
	case 3:
		c := new(struct {
			n [3]node[T]
			s set1[T]
		})
		return c.n[:], &c.s
	case 4:
		c := new(struct {
			n [4]node[T]
			s set1[T]
		})
		return c.n[:], &c.s
	}
	return make([]node[T], k), new(set1[T])
}

// Remove removes one occurrence of the subscription (filter, v) and reports
// whether there was one. Unsubscribing the last subscriber of a node frees
// the node and every ancestor left empty, so memory goes back to what it was
// before the subscription.
//
// Remove returns a *FilterError, which matches topic.ErrInvalid, if filter is
// not valid. Remove never blocks a concurrent Match.
func (t *Trie[T]) Remove(filter string, v T) (removed bool, err error) {
	var p parsedFilter
	if err := p.parse(filter); err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var stack [16]*node[T]
	path := append(stack[:0], t.root) // the nodes from the root down
	n := t.root
	for i, pos := 0, 0; i < p.nlev; i++ {
		lv, next := p.next(i, pos)
		pos = next
		if lv == "+" {
			n = n.plus()
		} else {
			n = t.childAt(n, lv)
		}
		if n == nil {
			return false, nil
		}
		path = append(path, n)
	}
	var g *group
	if p.group != "" {
		if g = t.groups[p.group]; g == nil {
			return false, nil
		}
	}
	if p.hash && t.mode == topic.MQTT {
		e := n.ext.Load()
		if e == nil {
			return false, nil
		}
		ns, ok := e.rest.Load().without(v, g, t.seed)
		if !ok {
			return false, nil
		}
		e.rest.Store(ns)
		n.trimExt()
	} else {
		ns, ok := n.subs.Load().without(v, g, t.seed)
		if !ok {
			return false, nil
		}
		n.subs.Store(ns)
	}
	t.count.Add(-1)
	if g != nil {
		t.release(g)
	}
	t.prune(path)
	return true, nil
}

// prune unlinks the last node of path, the nodes from the root down, and
// then each ancestor while they are empty. Writer only.
func (t *Trie[T]) prune(path []*node[T]) {
	for i := len(path) - 1; i > 0 && path[i].empty(); i-- {
		n, p := path[i], path[i-1]
		if p.plus() == n {
			p.ext.Load().plus.Store(nil)
			p.trimExt()
		} else {
			t.removeChild(p, n)
			t.unref(n.word)
		}
	}
}

// group returns the share group called name, creating it, and counts one
// more member. Writer only.
func (t *Trie[T]) group(name string) *group {
	g := t.groups[name]
	if g == nil {
		if t.groups == nil {
			t.groups = make(map[string]*group)
		}
		t.nextGroup++
		g = &group{id: t.nextGroup, name: strings.Clone(name)}
		t.groups[name] = g
		t.maxGroups = max(t.maxGroups, len(t.groups))
	}
	g.refs++
	return g
}

// release counts one member less in g and forgets g when it has none left.
// Go maps never shrink, so the map is rebuilt when it has lost most of its
// entries, which keeps memory bounded by the live groups. Writer only.
func (t *Trie[T]) release(g *group) {
	if g.refs--; g.refs > 0 {
		return
	}
	delete(t.groups, g.name)
	switch n := len(t.groups); {
	case n == 0:
		t.groups, t.maxGroups = nil, 0
	case t.maxGroups >= 64 && n*4 < t.maxGroups:
		m := make(map[string]*group, n)
		for k, v := range t.groups {
			m[k] = v
		}
		t.groups, t.maxGroups = m, n
	}
}

// All returns an iterator over every subscription as (filter, value), in no
// particular order. Filters are in canonical form: levels joined by '/' with
// a trailing '/', share-group members prefixed with "$share/<group>/", and in
// Emitter mode a trailing "#" dropped. Like Match, All takes no lock: it sees
// a mix of old and new state if writers run meanwhile. It allocates and is
// meant for debugging, presence listings and tests, not for the hot path.
func (t *Trie[T]) All() iter.Seq2[string, T] {
	return func(yield func(string, T) bool) {
		t.walkAll(t.root, nil, yield)
	}
}

func (t *Trie[T]) walkAll(n *node[T], path []byte, yield func(string, T) bool) bool {
	emit := func(s *set[T], suffix string) bool {
		if s == nil {
			return true
		}
		f := string(path) + suffix
		for _, v := range s.vals {
			if !yield(f, v) {
				return false
			}
		}
		if s.big != nil {
			for _, sh := range s.big.shards {
				for _, v := range sh {
					if !yield(f, v) {
						return false
					}
				}
			}
		}
		for _, m := range s.shares() {
			if !yield(shareLevel+"/"+m.g.name+"/"+f, m.v) {
				return false
			}
		}
		return true
	}
	if n != t.root && !emit(n.subs.Load(), "") {
		return false
	}
	if !emit(n.rest(), "#/") {
		return false
	}
	if n == t.root && !emit(n.subs.Load(), "#/") { // Emitter's "#/": everything
		return false
	}
	if c := n.plus(); c != nil {
		if !t.walkAll(c, append(path[:len(path):len(path)], "+/"...), yield) {
			return false
		}
	}
	if c := n.one.Load(); c != nil {
		if !t.walkAll(c, append(append(path[:len(path):len(path)], c.word.s...), '/'), yield) {
			return false
		}
	}
	if tb := n.kids.Load(); tb != nil {
		for i := range tb.slots {
			if c := tb.slots[i].ptr.Load(); c != nil && c != t.tomb {
				if !t.walkAll(c, append(append(path[:len(path):len(path)], c.word.s...), '/'), yield) {
					return false
				}
			}
		}
	}
	return true
}

// isMQTT reports whether the trie follows MQTT's rules (match.go's walks have a
// parameter named topic, which hides the package).
func (t *Trie[T]) isMQTT() bool { return t.mode == topic.MQTT }
