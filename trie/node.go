package trie

import (
	"hash/maphash"
	"sync/atomic"
)

// node is one level of the trie. Every field that a reader looks at is either
// immutable after the node is published (level) or an atomic pointer that
// the single writer replaces (one, kids, subs, ext and the fields of ext).
//
// The literal children are in one while there is only one of them (the
// common case deep in the trie, which then needs no table), and in kids
// otherwise. When a second child comes, the writer stores a table holding
// both in kids before it clears one; readers load one before kids, so they
// never miss a child that stays. A table is not turned back into one: when
// its last child goes, kids becomes nil.
//
// A node is 48 bytes: what most nodes do not need (a '+' child, MQTT '#'
// subscriptions) is in ext, allocated on demand and dropped when empty.
type node[T comparable] struct {
	level string                  // literal level this node stands for ("" for root and '+' nodes)
	one   atomic.Pointer[node[T]] // the only literal child, or nil
	kids  atomic.Pointer[table[T]]
	subs  atomic.Pointer[set[T]] // filters that end at this node
	ext   atomic.Pointer[ext[T]]
}

// ext holds the rarer parts of a node.
type ext[T comparable] struct {
	plus atomic.Pointer[node[T]] // child for a '+' level
	rest atomic.Pointer[set[T]]  // MQTT mode: filters that end with '#' below this node
}

// plus returns the '+' child of n, or nil.
func (n *node[T]) plus() *node[T] {
	if e := n.ext.Load(); e != nil {
		return e.plus.Load()
	}
	return nil
}

// rest returns the set of MQTT '#' subscriptions below n, or nil.
func (n *node[T]) rest() *set[T] {
	if e := n.ext.Load(); e != nil {
		return e.rest.Load()
	}
	return nil
}

// extension returns the ext of n, creating it. Writer only.
func (n *node[T]) extension() *ext[T] {
	e := n.ext.Load()
	if e == nil {
		e = &ext[T]{}
		n.ext.Store(e)
	}
	return e
}

// trimExt drops the ext of n when it holds nothing. Writer only.
func (n *node[T]) trimExt() {
	if e := n.ext.Load(); e != nil && e.plus.Load() == nil && e.rest.Load() == nil {
		n.ext.Store(nil)
	}
}

// empty reports whether n holds nothing and can be unlinked. Writer only.
func (n *node[T]) empty() bool {
	return n.subs.Load() == nil && n.ext.Load() == nil && n.one.Load() == nil && n.kids.Load() == nil
}

// table is an open-addressing hash table of the literal children of a node,
// probed linearly. Readers load slots atomically; the writer fills empty
// slots, replaces deleted children by the trie's tombstone and rebuilds the
// whole table (published with one atomic store) when it gets too full or too
// empty. There is always at least one empty slot, which ends every probe.
type table[T comparable] struct {
	slots []slot[T]
	live  int32 // writer only: children in the table
	used  int32 // writer only: live children plus tombstones
	// inline holds the slots of small tables, so that they take a single
	// allocation.
	inline [inlineSlots]slot[T]
}

// slot is one entry of a table. tag is the hash of the child's level, so
// that a probe skips other children without loading them. The writer stores
// tag before ptr; a reader loads ptr before tag, so a tag it reads is never
// older than the pointer (it may be newer, when a tombstone is reused, and
// the reader then skips the tombstone).
type slot[T comparable] struct {
	tag atomic.Uint64
	ptr atomic.Pointer[node[T]]
}

const (
	minTable    = 2 // smallest table size, a power of two
	inlineSlots = 4 // tables up to this size keep their slots inline
)

// child returns the literal child of n for level, or nil. seed is the
// trie's hash seed and tomb its tombstone. Safe for concurrent use with the
// writer.
func (n *node[T]) child(level string, seed maphash.Seed, tomb *node[T]) *node[T] {
	if c := n.one.Load(); c != nil && c.level == level {
		return c
	}
	tb := n.kids.Load()
	if tb == nil {
		return nil
	}
	return tb.find(level, maphash.String(seed, level), tomb)
}

// find returns the child of tb for level, whose hash is h, or nil. Safe for
// concurrent use with the writer.
func (tb *table[T]) find(level string, h uint64, tomb *node[T]) *node[T] {
	mask := uint64(len(tb.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &tb.slots[i]
		c := sl.ptr.Load()
		if c == nil {
			return nil
		}
		if sl.tag.Load() == h && c != tomb && c.level == level {
			return c
		}
	}
}

// tableSize returns the table size for live children: a power of two at
// least twice live, so a rebuilt table is at most half full (and addChild
// rebuilds it when live children and tombstones reach half of it).
func tableSize(live int32) int {
	n := minTable
	for n < 2*int(live) {
		n <<= 1
	}
	return n
}

// rebuild returns a new table of size tableSize(live) holding the live
// children of old (which may be nil). Writer only.
func rebuild[T comparable](old *table[T], live int32, tomb *node[T]) *table[T] {
	tb := &table[T]{}
	if size := tableSize(live); size <= inlineSlots {
		tb.slots = tb.inline[:size]
	} else {
		tb.slots = make([]slot[T], size)
	}
	if old == nil {
		return tb
	}
	for i := range old.slots {
		if c := old.slots[i].ptr.Load(); c != nil && c != tomb {
			tb.put(c, old.slots[i].tag.Load(), tomb)
		}
	}
	return tb
}

// put stores c, which must not be in tb and whose level hashes to h, in the
// first free or tombstone slot of its probe sequence. The caller guarantees
// a nil slot remains. Writer only.
func (tb *table[T]) put(c *node[T], h uint64, tomb *node[T]) {
	mask := uint64(len(tb.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &tb.slots[i]
		switch sl.ptr.Load() {
		case nil:
			tb.used++
		case tomb:
		default:
			continue
		}
		tb.live++
		sl.tag.Store(h)
		sl.ptr.Store(c)
		return
	}
}

// testHookOneToTable, when set by a test, runs between the two steps of
// moving a node's only child into a table.
var testHookOneToTable func()

// addChild links the new literal child c below n. Writer only.
func (t *Trie[T]) addChild(n, c *node[T]) {
	tb := n.kids.Load()
	if tb == nil {
		o := n.one.Load()
		if o == nil {
			n.one.Store(c)
			return
		}
		nt := rebuild(nil, 2, t.tomb)
		nt.put(o, maphash.String(t.seed, o.level), t.tomb)
		nt.put(c, maphash.String(t.seed, c.level), t.tomb)
		n.kids.Store(nt) // before clearing one: see node
		if testHookOneToTable != nil {
			testHookOneToTable()
		}
		n.one.Store(nil)
		return
	}
	if int(tb.used+1)*2 > len(tb.slots) {
		nt := rebuild(tb, tb.live+1, t.tomb)
		nt.put(c, maphash.String(t.seed, c.level), t.tomb)
		n.kids.Store(nt)
		return
	}
	tb.put(c, maphash.String(t.seed, c.level), t.tomb)
}

// removeChild unlinks the literal child c of n. Writer only.
func (t *Trie[T]) removeChild(n, c *node[T]) {
	if n.one.Load() == c {
		n.one.Store(nil)
		return
	}
	tb := n.kids.Load()
	mask := uint64(len(tb.slots) - 1)
	for i := maphash.String(t.seed, c.level) & mask; ; i = (i + 1) & mask {
		if tb.slots[i].ptr.Load() == c {
			tb.slots[i].ptr.Store(t.tomb)
			tb.live--
			// When the next slot is empty, no probe goes past this slot:
			// it and the tombstones just before it can be emptied, so that
			// churn does not fill the table with tombstones.
			for j := i; tb.slots[(j+1)&mask].ptr.Load() == nil && tb.slots[j].ptr.Load() == t.tomb; j = (j - 1) & mask {
				tb.slots[j].ptr.Store(nil)
				tb.used--
			}
			break
		}
	}
	switch {
	case tb.live == 0:
		n.kids.Store(nil)
	case len(tb.slots) > minTable && int(tb.live)*8 < len(tb.slots):
		n.kids.Store(rebuild(tb, tb.live, t.tomb))
	}
}
