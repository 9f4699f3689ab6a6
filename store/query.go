package store

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/heraldmq/herald/topic"
)

// plan is a validated, normalised Query.
type plan struct {
	filter   string
	mode     topic.Mode
	prefix   string // every matching channel starts with prefix
	exact    bool   // only the channel equal to filter can match
	newest   bool   // keep the n newest (Last) instead of the n oldest (Limit)
	n        int
	lo, hi   ID // lo inclusive (if hasLo), hi exclusive (if hasHi)
	hasLo    bool
	hasHi    bool
	empty    bool // nothing can match
	maxBytes int
	now      int64
}

// plan validates q and applies the store's clamps.
func (o *Options) plan(q Query) (plan, error) {
	p := plan{filter: q.Filter, mode: q.Matching, now: o.Clock().UnixNano()}
	if err := topic.ValidateFilter(q.Filter); err != nil {
		return p, err
	}
	switch {
	case q.Matching != topic.Emitter && q.Matching != topic.MQTT:
		return p, fmt.Errorf("%w: unknown mode %d", ErrInvalidQuery, q.Matching)
	case q.Last < 0 || q.Limit < 0 || q.MaxBytes < 0:
		return p, fmt.Errorf("%w: negative Last, Limit or MaxBytes", ErrInvalidQuery)
	case q.Last > 0 && q.Limit > 0:
		return p, fmt.Errorf("%w: both Last and Limit set", ErrInvalidQuery)
	case !q.From.IsZero() && !q.Until.IsZero() && q.Until.Before(q.From):
		return p, fmt.Errorf("%w: Until before From", ErrInvalidQuery)
	}
	p.prefix, p.exact = topic.LiteralPrefix(q.Filter)
	p.exact = p.exact && q.Matching == topic.MQTT
	p.newest = q.Last > 0
	p.n = min(max(q.Last, q.Limit), o.MaxResults)
	if p.n == 0 {
		p.n = o.MaxResults
	}
	p.maxBytes = o.MaxResponseBytes
	if q.MaxBytes > 0 {
		p.maxBytes = min(q.MaxBytes, p.maxBytes)
	}

	if !q.After.IsZero() {
		p.lo, p.hasLo = q.After, true
		if !incID(&p.lo) {
			p.empty = true // nothing is after the greatest ID
		}
	}
	if !q.From.IsZero() {
		if f := q.From.UnixNano(); f > 0 {
			if id := NewID(f, 0); !p.hasLo || id.Compare(p.lo) > 0 {
				p.lo, p.hasLo = id, true
			}
		}
	}
	if !q.Before.IsZero() {
		p.hi, p.hasHi = q.Before, true
	}
	if !q.Until.IsZero() {
		u := q.Until.UnixNano()
		switch {
		case u < 0:
			p.empty = true
		case u < math.MaxInt64:
			if id := NewID(u+1, 0); !p.hasHi || id.Compare(p.hi) < 0 {
				p.hi, p.hasHi = id, true
			}
		}
	}
	if p.hasLo && p.hasHi && p.lo.Compare(p.hi) >= 0 {
		p.empty = true
	}
	return p, nil
}

// incID adds one to id; it reports false on overflow.
func incID(id *ID) bool {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return true
		}
	}
	return false
}

// matches reports whether ch is selected by the plan's filter.
func (p *plan) matches(ch string) bool {
	if p.exact {
		return ch == p.filter
	}
	return topic.Match(p.filter, ch, p.mode)
}

// inWindow reports whether id is inside [lo, hi).
func (p *plan) inWindow(id *ID) bool {
	return (!p.hasLo || id.Compare(p.lo) >= 0) && (!p.hasHi || id.Compare(p.hi) < 0)
}

// cand is a message considered by a query. payload may point into storage
// that is only valid until the query finishes.
type cand struct {
	id      ID
	ch      string // the channel
	payload []byte // may be nil when only plen is known (Bolt reads it later)
	plen    int    // len(payload)
	expires int64
	cpos    uint64 // Bolt: where the payload is in the cache (see ring)
}

// size is what x counts for in the byte cap (see Message.Size).
func (x *cand) size() int { return len(x.id) + x.plen + len(x.ch) }

// collector keeps the best p.n candidates. While they all come from one
// channel they arrive best first and are simply appended; once a second
// channel contributes they are kept in a heap: a min-heap on (ID, channel)
// when the newest are wanted, a max-heap when the oldest are.
type collector struct {
	p        *plan
	items    []cand
	channels int  // channels scanned so far
	heap     bool // items is a heap (else: best first)
	// chanBytes is the size of the candidates taken from the current
	// channel. Once it reaches the byte cap the channel's worse candidates
	// cannot be in the answer: the cap keeps a run of the best candidates
	// overall, and the better ones of this channel alone already fill it.
	chanBytes int
	s         *scratch // pooled slices (see release)
}

// scratch holds the slices a query works in, recycled through scratchPool.
type scratch struct {
	items []cand      // collector.items
	heads []cand      // merge: each cursor's next candidate
	heap  []int32     // merge: cursors by head
	ix    []ixCursor  // Bolt: the cursors of a merge
	mem   []memCursor // Memory: the cursors of a merge
}

// scratchPool recycles the scratch of collectors (see release).
var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func newCollector(p *plan) *collector {
	s := scratchPool.Get().(*scratch)
	if cap(s.items) < min(p.n, 128) {
		s.items = make([]cand, 0, min(p.n, 128))
	}
	return &collector{p: p, items: s.items[:0], s: s}
}

// release returns the collector's scratch to the pool: neither the
// collector nor the slices selected returned may be used afterwards.
func (c *collector) release() {
	s := c.s
	if s == nil {
		return
	}
	items := c.items
	c.items, c.s = nil, nil
	if cap(items) > 4096 || cap(s.heads) > 4096 {
		return // do not keep rare large ones
	}
	// Clear what the slices reference (channels, payloads).
	s.items = items[:0]
	clear(s.items[:cap(s.items)])
	clear(s.heads[:cap(s.heads)])
	clear(s.ix[:cap(s.ix)])
	clear(s.mem[:cap(s.mem)])
	s.heads, s.heap, s.ix, s.mem = s.heads[:0], s.heap[:0], s.ix[:0], s.mem[:0]
	scratchPool.Put(s)
}

// compareCand orders candidates by ID, then (for equal IDs in different
// channels) by channel.
func compareCand(a, b *cand) int {
	if c := a.id.Compare(b.id); c != 0 {
		return c
	}
	return strings.Compare(a.ch, b.ch)
}

// worse reports whether a ranks below b (would be evicted first).
func (c *collector) worse(a, b *cand) bool {
	if c.p.newest {
		return compareCand(a, b) < 0
	}
	return compareCand(a, b) > 0
}

// startChannel must be called before the candidates of each channel.
func (c *collector) startChannel() {
	c.channels++
	c.chanBytes = 0
	if c.channels == 2 && !c.heap {
		c.heap = true
		for i := len(c.items)/2 - 1; i >= 0; i-- {
			c.down(i)
		}
	}
}

// wants reports whether x would be kept. Scans visit a channel's candidates
// from best to worst, so a false answer ends the channel's scan.
func (c *collector) wants(x *cand) bool {
	if c.chanBytes >= c.p.maxBytes {
		return false
	}
	if len(c.items) < c.p.n {
		return true
	}
	return c.heap && c.worse(&c.items[0], x)
}

// add inserts x, evicting the worst candidate when full. Call only after wants.
func (c *collector) add(x cand) {
	c.chanBytes += x.size()
	if !c.heap {
		c.items = append(c.items, x)
		return
	}
	h := c.items
	if len(h) < c.p.n {
		h = append(h, x)
		c.items = h
		for i := len(h) - 1; i > 0; { // sift up
			parent := (i - 1) / 2
			if !c.worse(&h[i], &h[parent]) {
				break
			}
			h[i], h[parent] = h[parent], h[i]
			i = parent
		}
		return
	}
	h[0] = x
	c.down(0)
}

func (c *collector) down(i int) {
	h := c.items
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && c.worse(&h[l], &h[m]) {
			m = l
		}
		if r < len(h) && c.worse(&h[r], &h[m]) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// cursor yields the candidates of one channel that a query may return, best
// first (see merge).
type cursor interface {
	// next stores the channel's next candidate in x, or reports false at the
	// end of the channel (or of the query's window in it).
	next(x *cand) bool
}

// merge offers col the candidates of several channels best first overall, a
// k-way merge of the channels' own best-first orders: a query for the newest
// n messages of many channels whose messages interleave in time looks at
// about n candidates plus one per channel, where offering each channel in
// turn (scan) adds up to n per channel to a heap. The cursors are advanced
// in place.
func merge[C any, PC interface {
	*C
	cursor
}](col *collector, curs []C) {
	col.startChannel() // candidates arrive best first: col appends
	heads := slices.Grow(col.s.heads[:0], len(curs))[:len(curs)]
	h := slices.Grow(col.s.heap[:0], len(curs)) // max-heap of cursors by their head
	defer func() { col.s.heads, col.s.heap = heads[:0], h[:0] }()
	better := func(i, j int32) bool { return col.worse(&heads[j], &heads[i]) }
	down := func(i int) {
		for {
			l, r, m := 2*i+1, 2*i+2, i
			if l < len(h) && better(h[l], h[m]) {
				m = l
			}
			if r < len(h) && better(h[r], h[m]) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := range curs {
		if PC(&curs[i]).next(&heads[i]) {
			h = append(h, int32(i))
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		top := h[0]
		if !col.wants(&heads[top]) {
			return
		}
		col.add(heads[top])
		if !PC(&curs[top]).next(&heads[top]) {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
}

// selected sorts the candidates oldest to newest and applies the byte cap.
// The slice it returns is the collector's own.
func (c *collector) selected() []cand {
	h := c.items
	if len(h) == 0 {
		return nil
	}
	switch {
	case c.heap:
		slices.SortFunc(h, func(a, b cand) int { return compareCand(&a, &b) })
	case c.p.newest:
		slices.Reverse(h) // best (newest) first -> oldest first
	}
	total, n := 0, 0
	if c.p.newest {
		for i := len(h) - 1; i >= 0; i-- {
			s := h[i].size()
			if n > 0 && total+s > c.p.maxBytes {
				break
			}
			total, n = total+s, n+1
		}
		return h[len(h)-n:]
	}
	for i := range h {
		s := h[i].size()
		if n > 0 && total+s > c.p.maxBytes {
			break
		}
		total, n = total+s, n+1
	}
	return h[:n]
}

// result returns the selected candidates as messages. All payloads share
// one allocation.
func (c *collector) result() []Message {
	h := c.selected()
	if len(h) == 0 {
		return nil
	}
	arena := 0
	for i := range h {
		arena += len(h[i].payload)
	}
	buf := make([]byte, 0, arena)
	out := make([]Message, len(h))
	for i := range h {
		x := &h[i]
		ch := x.ch
		start := len(buf)
		buf = append(buf, x.payload...)
		out[i] = Message{ID: x.id, Channel: ch, Payload: buf[start:len(buf):len(buf)], Expires: x.expires}
	}
	return out
}

// bytesString returns b as a string without copying; b must not change while
// the string is used.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
