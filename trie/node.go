package trie

// Design notes
//
// A node has an atomic pointer to each part a writer may change: its only
// literal child (the common case below the top levels), or else an
// open-addressing hash table of its literal children; its '+' child and its
// MQTT '#' subscriptions (in an extension allocated only when needed); and
// the immutable list of subscriptions that end at it. Levels are interned:
// while any node stands for a level, the trie's dictionary (a table of the
// same kind) holds one word for it, which every such node points to and
// which counts them. Tables are keyed by a seeded hash of the level
// (hash/maphash, so levels chosen by remote clients cannot be made to
// collide), kept in each slot next to the entry so that probes skip other
// entries without loading them; a child is verified by comparing its word
// pointer, a word by comparing its level. The single writer fills free slots
// in place, marks deleted children with a tombstone (or empties the slot
// when it ends a probe cluster) and replaces the whole table by a rebuilt
// one, with one atomic store, when live children and tombstones reach half
// of it or live children drop below an eighth. Readers only load pointers,
// so they never wait and never see a half-made change.
//
// A subscribe walks the filter's levels; the levels that do not exist yet
// become a chain of nodes built in one allocation (with the subscriber list
// beside it) and linked with one atomic store, after the words of their
// levels (a level no node has yet gets a new word and a copy of its bytes).
// An unsubscribe walks the same levels, replaces one subscriber list and
// unlinks the nodes left empty, dropping the words no node points to any
// more. Their cost does not depend on the size of the trie (see
// BenchmarkSubscribeUnsubscribe), apart from a copy of the filter's
// subscriber list: the whole list while it is short, one of about √n shards
// once a channel has more than 128 plain subscribers (share-group members
// are not sharded). They never block a Match.
//
// Match splits the topic by index arithmetic and looks each of its levels up
// in the dictionary once, the first time the walk reaches it; from then on,
// whichever branch ('+' or literal) meets the level again finds its child by
// comparing word pointers, with no hashing or string comparison, and a level
// no node has ends every branch that needs it at once. It calls back for
// each value: no lock, no allocation, no shared write (except the
// share-group counter). The callback is not stored anywhere, so a caller's
// closure and what it captures stay on the caller's stack. Removing the last
// subscription of a node unlinks it and every ancestor left empty, and
// tables shrink, so memory returns to its earlier level after subscriptions
// come and go. Readers that still hold unlinked nodes keep them alive until
// they finish, as the garbage collector guarantees.

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// node is one level of the trie. Every field that a reader looks at is either
// immutable after the node is published (word) or an atomic pointer that
// the single writer replaces (one, kids, subs, ext and the fields of ext).
//
// The literal children are in one while there is only one of them (the
// common case deep in the trie, which then needs no table), and in kids
// otherwise. When a second child comes, the writer stores a table holding
// both in kids before it clears one; readers load one before kids, so they
// never miss a child that stays. A table is not turned back into one: when
// its last child goes, kids becomes nil.
//
// A node is 40 bytes: what most nodes do not need (a '+' child, MQTT '#'
// subscriptions) is in ext, allocated on demand and dropped when empty.
type node[T comparable] struct {
	word *word                   // literal level this node stands for (nil for root and '+' nodes)
	one  atomic.Pointer[node[T]] // the only literal child, or nil
	kids atomic.Pointer[table[node[T]]]
	subs atomic.Pointer[set[T]] // filters that end at this node
	ext  atomic.Pointer[ext[T]]
}

// word is an interned level. While any node of the trie stands for a
// level, exactly one word for it is in the trie's dictionary and every such
// node points to it, so that a Match looks each level of the topic up once
// and then tells children apart by comparing pointers. s and hash are
// immutable; refs is the writer's.
type word struct {
	s    string // the level
	hash uint64 // maphash of s with the trie's seed
	refs int    // nodes of the trie that point to it
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

// table is an open-addressing hash table of pointers, probed linearly: the
// literal children of a node, or the trie's dictionary of words. Readers
// load slots atomically; the writer fills empty slots, replaces deleted
// entries by a tombstone and rebuilds the whole table (published with one
// atomic store) when it gets too full or too empty. There is always at
// least one empty slot, which ends every probe.
type table[E any] struct {
	slots []slot[E]
	live  int32 // writer only: entries in the table
	used  int32 // writer only: live entries plus tombstones
	// inline holds the slots of small tables, so that they take a single
	// allocation.
	inline [inlineSlots]slot[E]
}

// slot is one entry of a table. tag is the hash of the entry's level, so
// that a probe skips other entries without loading them. The writer stores
// tag before ptr; a reader loads ptr before tag, so a tag it reads is never
// older than the pointer (it may be newer, when a tombstone is reused, and
// the reader then skips the tombstone). Readers compare the level of the
// entry itself, which is immutable, before they take it.
type slot[E any] struct {
	tag atomic.Uint64
	ptr atomic.Pointer[E]
}

const (
	minTable    = 2 // smallest table size, a power of two
	inlineSlots = 4 // tables up to this size keep their slots inline
)

// child returns the literal child of n for w, or nil (also when w is nil).
// tomb is the trie's tombstone. Safe for concurrent use with the writer.
func (n *node[T]) child(w *word, tomb *node[T]) *node[T] {
	if w == nil {
		return nil
	}
	if c := n.one.Load(); c != nil && c.word == w {
		return c
	}
	if tb := n.kids.Load(); tb != nil {
		return findChild(tb, w, tomb)
	}
	return nil
}

// findChild returns the child of the table tb for w, or nil. Safe for
// concurrent use with the writer.
func findChild[T comparable](tb *table[node[T]], w *word, tomb *node[T]) *node[T] {
	mask := uint64(len(tb.slots) - 1)
	for i := w.hash & mask; ; i = (i + 1) & mask {
		sl := &tb.slots[i]
		c := sl.ptr.Load()
		if c == nil {
			return nil
		}
		if sl.tag.Load() == w.hash && c != tomb && c.word == w {
			return c
		}
	}
}

// findWord returns the word of the table tb (which may be nil) for the
// level s, whose hash is h, or nil. Safe for concurrent use with the writer.
func findWord(tb *table[word], s string, h uint64, tomb *word) *word {
	if tb == nil {
		return nil
	}
	mask := uint64(len(tb.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &tb.slots[i]
		w := sl.ptr.Load()
		if w == nil {
			return nil
		}
		if sl.tag.Load() == h && w != tomb && w.s == s {
			return w
		}
	}
}

// tableSize returns the table size for live entries: a power of two at
// least twice live, so a rebuilt table is at most half full (and add
// rebuilds it when live entries and tombstones reach half of it).
func tableSize(live int32) int {
	n := minTable
	for n < 2*int(live) {
		n <<= 1
	}
	return n
}

// rebuild returns a new table of size tableSize(live) holding the live
// entries of old (which may be nil). Writer only.
func rebuild[E any](old *table[E], live int32, tomb *E) *table[E] {
	tb := &table[E]{}
	if size := tableSize(live); size <= inlineSlots {
		tb.slots = tb.inline[:size]
	} else {
		tb.slots = make([]slot[E], size)
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
func (tb *table[E]) put(c *E, h uint64, tomb *E) {
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

// add stores c, which is not in the table of p (nil allowed) and whose
// level hashes to h, in that table, replacing the table by a bigger one
// when it is too full. Writer only.
func add[E any](p *atomic.Pointer[table[E]], c *E, h uint64, tomb *E) {
	tb := p.Load()
	if tb == nil || int(tb.used+1)*2 > len(tb.slots) {
		var live int32
		if tb != nil {
			live = tb.live
		}
		nt := rebuild(tb, live+1, tomb)
		nt.put(c, h, tomb)
		p.Store(nt)
		return
	}
	tb.put(c, h, tomb)
}

// del removes c, whose level hashes to h, from the table of p, replacing
// the table by a smaller one (nil when empty) when few entries are left.
// Writer only.
func del[E any](p *atomic.Pointer[table[E]], c *E, h uint64, tomb *E) {
	tb := p.Load()
	mask := uint64(len(tb.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if tb.slots[i].ptr.Load() == c {
			tb.slots[i].ptr.Store(tomb)
			tb.live--
			// When the next slot is empty, no probe goes past this slot:
			// it and the tombstones just before it can be emptied, so that
			// churn does not fill the table with tombstones.
			for j := i; tb.slots[(j+1)&mask].ptr.Load() == nil && tb.slots[j].ptr.Load() == tomb; j = (j - 1) & mask {
				tb.slots[j].ptr.Store(nil)
				tb.used--
			}
			break
		}
	}
	switch {
	case tb.live == 0:
		p.Store(nil)
	case len(tb.slots) > minTable && int(tb.live)*8 < len(tb.slots):
		p.Store(rebuild(tb, tb.live, tomb))
	}
}

// testHookOneToTable, when set by a test, runs between the two steps of
// moving a node's only child into a table.
var testHookOneToTable func()

// addChild links the new literal child c below n. Writer only.
func (t *Trie[T]) addChild(n, c *node[T]) {
	if n.kids.Load() == nil {
		o := n.one.Load()
		if o == nil {
			n.one.Store(c)
			return
		}
		nt := rebuild(nil, 2, t.tomb)
		nt.put(o, o.word.hash, t.tomb)
		nt.put(c, c.word.hash, t.tomb)
		n.kids.Store(nt) // before clearing one: see node
		if testHookOneToTable != nil {
			testHookOneToTable()
		}
		n.one.Store(nil)
		return
	}
	add(&n.kids, c, c.word.hash, t.tomb)
}

// removeChild unlinks the literal child c of n. Writer only.
func (t *Trie[T]) removeChild(n, c *node[T]) {
	if n.one.Load() == c {
		n.one.Store(nil)
		return
	}
	del(&n.kids, c, c.word.hash, t.tomb)
}

// childAt returns the literal child of n for the level lv, or nil. It
// compares the only child's level itself, so that walking a chain hashes
// nothing. Writer only (readers use words they looked up once).
func (t *Trie[T]) childAt(n *node[T], lv string) *node[T] {
	if c := n.one.Load(); c != nil && c.word.s == lv {
		return c
	}
	if tb := n.kids.Load(); tb != nil {
		if w := t.lookupWord(lv); w != nil {
			return findChild(tb, w, t.tomb)
		}
	}
	return nil
}

// lookupWord returns the word for the level s, or nil when no node stands
// for s. Safe for concurrent use with the writer.
func (t *Trie[T]) lookupWord(s string) *word {
	tb := t.words.Load()
	if tb == nil {
		return nil
	}
	return findWord(tb, s, maphash.String(t.seed, s), t.wtomb)
}

// intern returns the word for the level s, creating it, and counts one
// more node that points to it. Writer only.
func (t *Trie[T]) intern(s string) *word {
	h := maphash.String(t.seed, s)
	w := findWord(t.words.Load(), s, h, t.wtomb)
	if w == nil {
		w = &word{s: strings.Clone(s), hash: h}
		add(&t.words, w, h, t.wtomb)
	}
	w.refs++
	return w
}

// unref counts one node less that points to w and drops w from the
// dictionary when none is left. Writer only.
func (t *Trie[T]) unref(w *word) {
	if w.refs--; w.refs == 0 {
		del(&t.words, w, w.hash, t.wtomb)
	}
}
