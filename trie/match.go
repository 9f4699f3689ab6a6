package trie

import "math"

// Match calls fn once for every subscription whose filter matches topic, and
// once for each share group with matching members, with one of them. A value
// subscribed through several matching filters (or twice through the same
// one) is reported once per subscription. The order is unspecified.
//
// topic is a literal string in the same level syntax as filters; '+' and '#'
// in it are ordinary bytes. The empty topic matches nothing.
//
// Match takes no lock and does not allocate. fn is called synchronously from
// the calling goroutine and is not retained, so a closure passed as fn stays
// on the caller's stack. fn may call any method of the trie, Insert and
// Remove included (nothing deadlocks), but whether the running Match sees
// such a change is unspecified.
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
	m := matcher[T]{b: trimSlash(topic), keep: keep, fn: fn}
	t.walk(&m, nil)
	if m.nrec > 0 || m.over {
		t.shares(&m)
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
	// topicLevels is the number of levels of a topic whose bounds and words
	// a Match remembers; deeper levels are found and looked up again each
	// time.
	topicLevels = 16
)

// Phases of the share-group walks (slow path).
const (
	phaseCount = iota + 1 // count share-group members
	phasePick             // report the chosen member of each group
)

// matcher holds the state of one Match. It lives on the caller's stack.
//
// Nothing reachable from a matcher may be passed to a function that leaks it
// (the trie's nodes are, by atomic loads): escape analysis does not tell the
// fields of a struct apart, so such a leak would move the caller's fn closure
// and the variables it captures to the heap. The walk functions are therefore
// methods of Trie that take the matcher as a separate argument.
type matcher[T comparable] struct {
	b     string // topic without its trailing '/'
	keep  func(T) bool
	fn    func(T)
	phase uint8
	over  bool // more than maxRec share sets matched
	nrec  int
	rec   [maxRec]*set[T] // immutable snapshot of the matched share sets

	// The walk meets each level of the topic in several branches (a '+'
	// child and the literal one): the first visit records where the level
	// ends and its word, so that later visits neither scan nor look it up
	// again.
	nends int                 // levels whose end and word are recorded
	ends  [topicLevels]uint32 // ends[i]: offset in b just past level i
	words [topicLevels]*word  // words[i]: the word of level i, nil when no node has it
}

// level returns the word of level i of the topic, which starts at byte pos
// (nil when no node stands for that level), and the position of level
// i+1, and records both in m. The walks read recorded levels themselves;
// they call level for the others.
func (t *Trie[T]) level(m *matcher[T], i, pos int) (w *word, next int) {
	lv, next := nextLevel(m.b, pos)
	w = t.lookupWord(lv)
	if i == m.nends && i < topicLevels && next-1 <= math.MaxUint32 {
		m.ends[i] = uint32(next - 1)
		m.words[i] = w
		m.nends++
	}
	return w, next
}

// walk visits every node whose subscriptions match the topic. st is nil in
// the main phase.
func (t *Trie[T]) walk(m *matcher[T], st *shareState[T]) {
	if !t.isMQTT() {
		t.emitter(m, t.root, 0, 0, st)
		return
	}
	if len(m.b) > 0 && m.b[0] == '$' {
		// Filters starting with a wildcard do not match "$..." topics:
		// skip the root's '#' and '+' and follow the literal level only.
		w, next := t.level(m, 0, 0)
		if c := t.root.child(w, t.tomb); c != nil {
			t.mqtt(m, c, 1, next, st)
		}
		return
	}
	t.mqtt(m, t.root, 0, 0, st)
}

// The two walks below read the recorded levels, the only child and the
// child table themselves: the calls would be too large for the compiler to
// inline, and a Match runs the loop once per node it visits. A level
// without a word has no literal child anywhere, which ends the walk along
// that branch at once.

// emitter visits, with prefix semantics, node n which matched the levels of
// the topic before level i, which starts at byte pos.
func (t *Trie[T]) emitter(m *matcher[T], n *node[T], i, pos int, st *shareState[T]) {
	for {
		if s := n.subs.Load(); s != nil {
			m.visit(s, st)
		}
		if pos > len(m.b) {
			return
		}
		var w *word
		var next int
		if i < m.nends {
			w, next = m.words[i], int(m.ends[i])+1
		} else {
			w, next = t.level(m, i, pos)
		}
		if e := n.ext.Load(); e != nil {
			if p := e.plus.Load(); p != nil {
				t.emitter(m, p, i+1, next, st)
			}
		}
		if w == nil {
			return
		}
		// node.child, written out: the call is not inlined (see BenchmarkMatch).
		c := n.one.Load()
		if c == nil || c.word != w {
			tb := n.kids.Load()
			if tb == nil {
				return
			}
			if c = findChild(tb, w, t.tomb); c == nil {
				return
			}
		}
		n, i, pos = c, i+1, next
	}
}

// mqtt visits, with MQTT semantics, node n which matched the levels of the
// topic before level i, which starts at byte pos.
func (t *Trie[T]) mqtt(m *matcher[T], n *node[T], i, pos int, st *shareState[T]) {
	for {
		e := n.ext.Load()
		if pos > len(m.b) {
			if s := n.subs.Load(); s != nil {
				m.visit(s, st)
			}
			if e != nil {
				if s := e.rest.Load(); s != nil {
					m.visit(s, st) // "a/#" matches "a"
				}
			}
			return
		}
		var w *word
		var next int
		if i < m.nends {
			w, next = m.words[i], int(m.ends[i])+1
		} else {
			w, next = t.level(m, i, pos)
		}
		if e != nil {
			if s := e.rest.Load(); s != nil {
				m.visit(s, st)
			}
			if p := e.plus.Load(); p != nil {
				t.mqtt(m, p, i+1, next, st)
			}
		}
		if w == nil {
			return
		}
		// node.child, written out: the call is not inlined (see BenchmarkMatch).
		c := n.one.Load()
		if c == nil || c.word != w {
			tb := n.kids.Load()
			if tb == nil {
				return
			}
			if c = findChild(tb, w, t.tomb); c == nil {
				return
			}
		}
		n, i, pos = c, i+1, next
	}
}

// visit handles the subscriptions s that match the topic.
func (m *matcher[T]) visit(s *set[T], st *shareState[T]) {
	if st != nil {
		if m.phase == phaseCount {
			st.count(s, m.keep)
		} else {
			st.pick(s, m.keep, m.fn)
		}
		return
	}
	if m.keep == nil {
		for _, v := range s.vals {
			m.fn(v)
		}
	} else {
		for _, v := range s.vals {
			if m.keep(v) {
				m.fn(v)
			}
		}
	}
	if s.big != nil {
		for _, sh := range s.big.shards {
			for _, v := range sh {
				if m.keep == nil || m.keep(v) {
					m.fn(v)
				}
			}
		}
	}
	if s.sh != nil {
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
func (t *Trie[T]) shares(m *matcher[T]) {
	var st shareState[T]
	for {
		if m.over {
			m.phase = phaseCount
			t.walk(m, &st)
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
			t.walk(m, &st)
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
	shares := s.shares()
outer:
	for i := range shares {
		mb := &shares[i]
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
	shares := s.shares()
	for i := range shares {
		mb := &shares[i]
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
