package trie

import (
	"hash/maphash"
	"sync/atomic"
)

// set is the immutable list of subscriptions ending at one place of a node.
// The writer replaces the whole set on every change; readers iterate the
// set they loaded.
//
// A small set keeps its plain subscribers in vals, so a change copies it. A
// set of more than bigMin plain subscribers (a popular channel) spreads them
// over about √n shards by a hash of the value, so a change copies one shard
// and the list of shards: O(√n) instead of O(n).
type set[T comparable] struct {
	vals []T          // plain subscribers of a small set
	big  *bigSet[T]   // plain subscribers of a large set (vals is then nil)
	sh   *[]member[T] // share-group members, nil when none
}

// bigSet holds the plain subscribers of a large set. It is immutable.
type bigSet[T comparable] struct {
	shards [][]T // len is a power of two; a value lives in shard hash(v)&mask
	n      int   // number of values
}

const (
	bigMin    = 128 // a set with more plain subscribers than this is sharded
	minShards = 16
)

// shares returns the share-group members of s.
func (s *set[T]) shares() []member[T] {
	if s.sh == nil {
		return nil
	}
	return *s.sh
}

// member is one subscription of a share group.
type member[T comparable] struct {
	g *group
	v T
}

// group is a share group. Readers use id and rr; name and refs are the
// writer's.
type group struct {
	id uint64 // unique for the life of the trie, never reused
	_  [56]byte
	rr atomic.Uint64 // round-robin counter: one increment per delivery to the group
	_  [56]byte
	// Writer only, on their own cache line.
	name string
	refs int // members in the trie
}

// set1 is a set with room for one value, so that the set of a filter with
// a single subscriber takes a single allocation.
type set1[T comparable] struct {
	set[T]
	one [1]T
}

// with returns a copy of s (which may be nil) with v or the member m added.
// seed is the trie's hash seed.
func (s *set[T]) with(v T, m *member[T], seed maphash.Seed) *set[T] {
	if s == nil && m == nil {
		s1 := &set1[T]{one: [1]T{v}}
		s1.vals = s1.one[:]
		return &s1.set
	}
	ns := &set[T]{}
	if s != nil {
		*ns = *s
	}
	switch {
	case m != nil:
		sh := ns.shares()
		sh = append(sh[:len(sh):len(sh)], *m)
		ns.sh = &sh
	case ns.big != nil:
		ns.big = ns.big.with(v, seed)
	case len(ns.vals) >= bigMin:
		ns.big = reshard(ns.vals, nil, minShards, seed).with(v, seed)
		ns.vals = nil
	default:
		ns.vals = append(ns.vals[:len(ns.vals):len(ns.vals)], v)
	}
	return ns
}

// without returns a copy of s with one occurrence of v removed (of member
// (g, v) when g is not nil), nil when the result is empty, and whether an
// occurrence was found.
func (s *set[T]) without(v T, g *group, seed maphash.Seed) (*set[T], bool) {
	if s == nil {
		return nil, false
	}
	ns := *s
	switch {
	case g != nil:
		i := indexOf(s.shares(), func(m member[T]) bool { return m.g == g && m.v == v })
		if i < 0 {
			return s, false
		}
		ns.sh = nil
		if rest := remove(s.shares(), i); rest != nil {
			ns.sh = &rest
		}
	case s.big != nil:
		b, ok := s.big.without(v, seed)
		if !ok {
			return s, false
		}
		ns.big = b
		if b.n <= bigMin/2 {
			ns.vals, ns.big = b.flatten(), nil
		}
	default:
		i := indexOf(s.vals, func(x T) bool { return x == v })
		if i < 0 {
			return s, false
		}
		ns.vals = remove(s.vals, i)
	}
	if len(ns.vals) == 0 && ns.big == nil && ns.sh == nil {
		return nil, true
	}
	out := new(set[T]) // allocated only here: the last Remove of a set allocates nothing
	*out = ns
	return out, true
}

// reshard spreads the values of vals and of the shards of old (either may be
// empty) over a new bigSet of k shards.
func reshard[T comparable](vals []T, old *bigSet[T], k int, seed maphash.Seed) *bigSet[T] {
	b := &bigSet[T]{shards: make([][]T, k)}
	add := func(v T) {
		i := maphash.Comparable(seed, v) & uint64(k-1)
		b.shards[i] = append(b.shards[i], v)
		b.n++
	}
	for _, v := range vals {
		add(v)
	}
	if old != nil {
		for _, sh := range old.shards {
			for _, v := range sh {
				add(v)
			}
		}
	}
	return b
}

// with returns a copy of b with v added, with twice the shards when the
// average shard would hold more than twice as many values as there are
// shards.
func (b *bigSet[T]) with(v T, seed maphash.Seed) *bigSet[T] {
	if k := len(b.shards); b.n+1 > 2*k*k {
		return reshard(nil, b, 2*k, seed).with(v, seed)
	}
	i := maphash.Comparable(seed, v) & uint64(len(b.shards)-1)
	nb := &bigSet[T]{shards: append([][]T(nil), b.shards...), n: b.n + 1}
	sh := b.shards[i]
	nb.shards[i] = append(sh[:len(sh):len(sh)], v)
	return nb
}

// without returns a copy of b with one occurrence of v removed, with half
// the shards when they have become many for the values left, and whether v
// was found.
func (b *bigSet[T]) without(v T, seed maphash.Seed) (*bigSet[T], bool) {
	i := maphash.Comparable(seed, v) & uint64(len(b.shards)-1)
	j := indexOf(b.shards[i], func(x T) bool { return x == v })
	if j < 0 {
		return b, false
	}
	nb := &bigSet[T]{shards: append([][]T(nil), b.shards...), n: b.n - 1}
	nb.shards[i] = remove(b.shards[i], j)
	if k := len(nb.shards); k > minShards && 8*nb.n < k*k {
		nb = reshard(nil, nb, k/2, seed)
	}
	return nb, true
}

// flatten returns the values of b in one slice.
func (b *bigSet[T]) flatten() []T {
	out := make([]T, 0, b.n)
	for _, sh := range b.shards {
		out = append(out, sh...)
	}
	return out
}

func indexOf[E any](s []E, f func(E) bool) int {
	for i := range s {
		if f(s[i]) {
			return i
		}
	}
	return -1
}

// remove returns a new slice without s[i] (nil when empty); s is not modified.
func remove[E any](s []E, i int) []E {
	if len(s) == 1 {
		return nil
	}
	out := make([]E, 0, len(s)-1)
	out = append(out, s[:i]...)
	return append(out, s[i+1:]...)
}
