package trie

import "hash/maphash"

// Match calls fn once for every subscription whose filter matches topic, and
// once for each share group with matching members, with one of them. A value
// subscribed through several matching filters (or twice through the same
// one) is reported once per subscription. The order is unspecified.
//
// topic is a literal string in the same level syntax as filters; '+' and '#'
// in it are ordinary bytes. The empty topic matches nothing.
//
// Match takes no lock and does not allocate. fn is called synchronously from
// the calling goroutine and is not retained; it must not call Insert or Remove
// on the same trie (that would be safe, but whether the change is seen by the
// running Match is unspecified).
func (t *Trie[T]) Match(topic string, fn func(T)) {
	t.MatchFiltered(topic, nil, fn)
}

// MatchFiltered is Match restricted to the values for which keep returns
// true: other values are not reported, and a share group picks its member
// among those with keep true only (so a publisher that excludes itself does
// not make its group lose the message). A nil keep keeps everything.
//
// keep may be called more than once for the same value during one call and
// should be cheap and consistent.
func (t *Trie[T]) MatchFiltered(topic string, keep func(T) bool, fn func(T)) {
	if topic == "" {
		return
	}
	m := matcher[T]{t: t, b: trimSlash(topic), keep: keep, fn: fn}
	m.walk()
	if m.nrec > 0 || m.over {
		m.shares()
	}
}

// MatchAppend appends to dst every value that Match would report for topic
// and returns the extended slice. It allocates only when dst must grow.
func (t *Trie[T]) MatchAppend(dst []T, topic string) []T {
	t.Match(topic, func(v T) { dst = append(dst, v) })
	return dst
}

const (
	maxRec   = 8 // share sets remembered by the first pass of a Match
	maxSlots = 8 // share groups counted at once
)

const (
	phaseMain  = iota // report plain values, remember share sets
	phaseCount        // count share-group members (slow path)
	phasePick         // report the chosen member of each group (slow path)
)

// matcher holds the state of one Match. It lives on the caller's stack.
type matcher[T comparable] struct {
	t     *Trie[T]
	b     string // topic without its trailing '/'
	keep  func(T) bool
	fn    func(T)
	share *shareState[T]
	phase uint8
	over  bool // more than maxRec share sets matched
	nrec  int
	rec   [maxRec]*set[T] // immutable snapshot of the matched share sets
}

func (m *matcher[T]) walk() {
	if m.t.mode == Emitter {
		m.emitter(m.t.root, 0)
		return
	}
	if len(m.b) > 0 && m.b[0] == '$' {
		// Filters starting with a wildcard do not match "$..." topics:
		// skip the root's '#' and '+' and follow the literal level only.
		lv, next := nextLevel(m.b, 0)
		if c := m.lookup(m.t.root, lv); c != nil {
			m.mqtt(c, next)
		}
		return
	}
	m.mqtt(m.t.root, 0)
}

// lookup returns the literal child of n for level lv, or nil.
func (m *matcher[T]) lookup(n *node[T], lv string) *node[T] {
	if n.kids.Load() == nil {
		return nil
	}
	return n.child(lv, maphash.String(m.t.seed, lv), m.t.tomb)
}

// emitter visits, with prefix semantics, node n which matched the levels of
// the topic before pos.
func (m *matcher[T]) emitter(n *node[T], pos int) {
	for {
		m.visit(n.subs.Load())
		if pos > len(m.b) {
			return
		}
		lv, next := nextLevel(m.b, pos)
		if p := n.plus.Load(); p != nil {
			m.emitter(p, next)
		}
		if n = m.lookup(n, lv); n == nil {
			return
		}
		pos = next
	}
}

// mqtt visits, with MQTT semantics, node n which matched the levels of the
// topic before pos.
func (m *matcher[T]) mqtt(n *node[T], pos int) {
	for {
		if pos > len(m.b) {
			m.visit(n.subs.Load())
			m.visit(n.rest.Load()) // "a/#" matches "a"
			return
		}
		m.visit(n.rest.Load())
		lv, next := nextLevel(m.b, pos)
		if p := n.plus.Load(); p != nil {
			m.mqtt(p, next)
		}
		if n = m.lookup(n, lv); n == nil {
			return
		}
		pos = next
	}
}

// visit handles the subscriptions s (possibly nil) that match the topic.
func (m *matcher[T]) visit(s *set[T]) {
	if s == nil {
		return
	}
	if m.phase != phaseMain {
		if m.phase == phaseCount {
			m.share.count(s, m.keep)
		} else {
			m.share.pick(s, m.keep, m.fn)
		}
		return
	}
	for _, v := range s.vals {
		if m.keep == nil || m.keep(v) {
			m.fn(v)
		}
	}
	if len(s.shares) > 0 {
		if m.nrec < maxRec {
			m.rec[m.nrec] = s
			m.nrec++
		} else {
			m.over = true
		}
	}
}

// shares reports one member of each share group with matching members.
//
// It counts the matching members n of each group, takes a ticket from the
// group's round-robin counter and reports the member with index ticket mod n
// in a second pass. When the first pass saw at most maxRec share sets, both
// passes run over those immutable sets, so they agree even if writers change
// the trie meanwhile; otherwise each pass walks the trie again and a group
// whose chosen member vanished in between gets the first member seen. Groups
// are handled maxSlots at a time, in order of group id, so no allocation is
// needed however many groups match.
func (m *matcher[T]) shares() {
	var st shareState[T]
	m.share = &st
	for {
		if m.over {
			m.phase = phaseCount
			m.walk()
		} else {
			for _, s := range m.rec[:m.nrec] {
				st.count(s, m.keep)
			}
		}
		if st.n == 0 {
			return
		}
		for i := range st.slots[:st.n] {
			sl := &st.slots[i]
			sl.pick = (sl.g.rr.Add(1) - 1) % sl.count
		}
		if m.over {
			m.phase = phasePick
			m.walk()
		} else {
			for _, s := range m.rec[:m.nrec] {
				st.pick(s, m.keep, m.fn)
			}
		}
		for i := range st.slots[:st.n] {
			if sl := &st.slots[i]; !sl.done && sl.hasFirst {
				m.fn(sl.first)
			}
		}
		if !st.skipped {
			return
		}
		st.next()
	}
}

// shareState counts and picks the members of up to maxSlots share groups
// whose ids are above floor.
type shareState[T comparable] struct {
	floor   uint64
	skipped bool // a group above floor did not get a slot
	n       int
	slots   [maxSlots]shareSlot[T]
}

type shareSlot[T comparable] struct {
	g        *group
	count    uint64 // matching members
	pick     uint64 // index of the member to report
	seen     uint64 // members met during the pick pass
	first    T      // first member met during the pick pass
	hasFirst bool
	done     bool
}

// count counts the members in s of groups above floor. When more than
// maxSlots groups match, it keeps the ones with the smallest ids: a group
// once evicted or refused never gets a slot later in the same pass, since
// the largest id held only decreases once the slots are full.
func (st *shareState[T]) count(s *set[T], keep func(T) bool) {
outer:
	for i := range s.shares {
		mb := &s.shares[i]
		g := mb.g
		if g.id <= st.floor || (keep != nil && !keep(mb.v)) {
			continue
		}
		for j := range st.slots[:st.n] {
			if st.slots[j].g == g {
				st.slots[j].count++
				continue outer
			}
		}
		if st.n < maxSlots {
			st.slots[st.n] = shareSlot[T]{g: g, count: 1}
			st.n++
			continue
		}
		st.skipped = true
		hi := 0
		for j := 1; j < st.n; j++ {
			if st.slots[j].g.id > st.slots[hi].g.id {
				hi = j
			}
		}
		if g.id < st.slots[hi].g.id {
			st.slots[hi] = shareSlot[T]{g: g, count: 1}
		}
	}
}

// pick reports the chosen members found in s.
func (st *shareState[T]) pick(s *set[T], keep func(T) bool, fn func(T)) {
	for i := range s.shares {
		mb := &s.shares[i]
		for j := range st.slots[:st.n] {
			sl := &st.slots[j]
			if sl.g != mb.g {
				continue
			}
			if sl.done || (keep != nil && !keep(mb.v)) {
				break
			}
			if !sl.hasFirst {
				sl.first, sl.hasFirst = mb.v, true
			}
			if sl.seen == sl.pick {
				sl.done = true
				fn(mb.v)
			}
			sl.seen++
			break
		}
	}
}

// next prepares the state for the groups not handled yet, whose ids are all
// above the largest id just handled.
func (st *shareState[T]) next() {
	var hi uint64
	for _, sl := range st.slots[:st.n] {
		hi = max(hi, sl.g.id)
	}
	*st = shareState[T]{floor: hi}
}
