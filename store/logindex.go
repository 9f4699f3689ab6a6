package store

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/heraldmq/herald/topic"
	"github.com/tidwall/btree"
	"go.etcd.io/bbolt"
)

// logIndex is Bolt's in-memory index of the history held in the log: for
// every channel, the ID, expiry time and payload size of each of its
// messages, in ID order. The log itself is keyed by ID, so it cannot find a
// channel's messages; the index can, and a query reads from the log only the
// messages it returns. The index is rebuilt from the log on open.
//
// Locking: mu guards every field. Mutations take mu for writing and are made
// only by the holder of Bolt.wmu (the single writer of the log), which may
// therefore read the index without mu. Queries take mu for reading.
type logIndex struct {
	mu    sync.RWMutex
	chans map[string]*ichan
	tree  *btree.Map[string, *ichan] // the same channels, in order, for prefix scans
	slots map[uint64]int             // messages per log slot
	n     int                        // messages
	cache ring                       // the newest payloads
}

// ichan is the index of one channel.
type ichan struct {
	name string
	ents []ient // sorted by id
	// minSlot is at most the smallest log slot of ents (slotNever if none
	// expires): trim skips the channel when it is above the trimmed slots.
	minSlot uint64
}

// ient is one indexed message.
type ient struct {
	id      ID
	expires int64
	cpos    uint64 // 1 + position of the payload in the cache; 0: not cached
	size    uint32 // payload length
}

// ring is a cache of the newest history payloads: a FIFO ring buffer of
// max bytes, written by the committer. A payload stays readable until max
// more bytes have been written after it. Positions are absolute (bytes
// written since the start). The buffer is made of chunks of ringChunk bytes
// allocated when first written, so the cache never copies itself to grow.
type ring struct {
	chunks [][]byte
	max    int
	chunk  int    // bytes per chunk; ringChunk if 0
	end    uint64 // absolute position of the next byte written
}

// ringChunk is the default size of a chunk of the ring.
const ringChunk = 1 << 20

// allocated returns how many bytes of buffer the ring holds.
func (r *ring) allocated() int {
	n := 0
	for _, c := range r.chunks {
		n += len(c)
	}
	return n
}

// span returns the buffer at offset off (< max) and up to n bytes after it,
// in one chunk. With alloc it allocates the chunk if needed (the writer);
// readers only read positions written before.
func (r *ring) span(off, n int, alloc bool) []byte {
	cs := r.chunk
	if cs <= 0 {
		cs = ringChunk
	}
	i := off / cs
	if alloc {
		if r.chunks == nil {
			r.chunks = make([][]byte, (r.max+cs-1)/cs)
		}
		if r.chunks[i] == nil {
			r.chunks[i] = make([]byte, min(cs, r.max-i*cs))
		}
	}
	c := r.chunks[i][off%cs:]
	return c[:min(n, len(c))]
}

// add copies p into the ring and returns 1 + its position, or 0 when p is
// not cached (caching disabled, or p larger than an eighth of the ring).
func (r *ring) add(p []byte) uint64 {
	if r.max <= 0 || len(p) > r.max/8 {
		return 0
	}
	pos := r.end
	off := int(pos % uint64(r.max))
	for rest := p; len(rest) > 0; {
		n := copy(r.span(off, len(rest), true), rest)
		rest = rest[n:]
		if off += n; off == r.max {
			off = 0
		}
	}
	r.end += uint64(len(p))
	return pos + 1
}

// get copies the n bytes cached at 1-based position cpos into dst and
// reports whether they were still there.
func (r *ring) get(dst []byte, cpos uint64) bool {
	if cpos == 0 {
		return false
	}
	if len(dst) == 0 {
		return true
	}
	pos := cpos - 1
	if r.end-pos > uint64(r.max) {
		return false // overwritten since
	}
	off := int(pos % uint64(r.max))
	for len(dst) > 0 {
		n := copy(dst, r.span(off, len(dst), false))
		dst = dst[n:]
		if off += n; off == r.max {
			off = 0
		}
	}
	return true
}

// slotNever is the log slot of the messages that never expire.
const slotNever = math.MaxUint64

// logSlot returns the log slot (bucket) of a message that expires at expires.
func logSlot(expires int64) uint64 {
	if expires == 0 {
		return slotNever
	}
	return uint64(expires) >> slotShift
}

func newLogIndex(cacheBytes int) *logIndex {
	return &logIndex{
		cache: ring{max: cacheBytes},
		chans: make(map[string]*ichan),
		tree:  btree.NewMap[string, *ichan](0),
		slots: make(map[uint64]int),
	}
}

func (c *ichan) search(id ID) (int, bool) {
	return slices.BinarySearchFunc(c.ents, id, func(e ient, id ID) int { return e.id.Compare(id) })
}

// find returns the entry of (ch, id).
func (ix *logIndex) find(ch string, id ID) (ient, bool) {
	c := ix.chans[ch]
	if c == nil {
		return ient{}, false
	}
	n := len(c.ents)
	if n == 0 {
		return ient{}, false
	}
	switch c.ents[n-1].id.Compare(id) {
	case 0:
		return c.ents[n-1], true
	case -1:
		return ient{}, false // the usual case: a new message, newer than the channel's others
	}
	i, ok := c.search(id)
	if !ok {
		return ient{}, false
	}
	return c.ents[i], true
}

// put adds or replaces the entry of (ch, e.id). The caller holds mu.
func (ix *logIndex) put(ch string, e ient) {
	c := ix.chans[ch]
	if c == nil {
		// ch may share the memory of a larger string of the caller's.
		c = &ichan{name: strings.Clone(ch), minSlot: slotNever}
		ix.chans[c.name] = c
		ix.tree.Set(c.name, c)
	}
	s := logSlot(e.expires)
	c.minSlot = min(c.minSlot, s)
	ix.slots[s]++
	if n := len(c.ents); n == 0 || c.ents[n-1].id.Compare(e.id) < 0 {
		c.ents = append(c.ents, e) // the usual case: IDs grow with time
		ix.n++
		return
	}
	i, ok := c.search(e.id)
	if ok {
		ix.dropSlot(logSlot(c.ents[i].expires), 1)
		c.ents[i] = e
		return
	}
	c.ents = slices.Insert(c.ents, i, e)
	ix.n++
}

func (ix *logIndex) dropSlot(s uint64, n int) {
	if ix.slots[s] -= n; ix.slots[s] <= 0 {
		delete(ix.slots, s)
	}
}

// remove removes the entry of (ch, id). The caller holds mu.
func (ix *logIndex) remove(ch string, id ID) {
	c := ix.chans[ch]
	if c == nil {
		return
	}
	i, ok := c.search(id)
	if !ok {
		return
	}
	ix.dropSlot(logSlot(c.ents[i].expires), 1)
	c.ents = slices.Delete(c.ents, i, i+1)
	ix.n--
	if len(c.ents) == 0 {
		ix.dropChannel(c)
	}
}

// removeChannel removes every entry of ch. The caller holds mu.
func (ix *logIndex) removeChannel(ch string) {
	c := ix.chans[ch]
	if c == nil {
		return
	}
	for _, e := range c.ents {
		ix.dropSlot(logSlot(e.expires), 1)
	}
	ix.n -= len(c.ents)
	ix.dropChannel(c)
}

func (ix *logIndex) dropChannel(c *ichan) {
	delete(ix.chans, c.name)
	ix.tree.Delete(c.name)
}

// trim removes the entries of the log slots up to maxSlot (the log dropped
// them) and returns how many it removed. The caller holds mu.
func (ix *logIndex) trim(maxSlot uint64) int {
	removed := 0
	var empty []*ichan
	for _, c := range ix.chans {
		if c.minSlot > maxSlot {
			continue
		}
		// Messages of one channel usually expire in ID order: cut the front
		// without moving anything, and filter the rest only if needed.
		i := 0
		for i < len(c.ents) && logSlot(c.ents[i].expires) <= maxSlot {
			i++
		}
		n := len(c.ents)
		c.ents = c.ents[i:]
		c.ents = slices.DeleteFunc(c.ents, func(e ient) bool { return logSlot(e.expires) <= maxSlot })
		removed += n - len(c.ents)
		c.minSlot = slotNever
		for _, e := range c.ents {
			c.minSlot = min(c.minSlot, logSlot(e.expires))
		}
		if len(c.ents) == 0 {
			empty = append(empty, c)
		}
	}
	for _, c := range empty {
		ix.dropChannel(c)
	}
	for s := range ix.slots {
		if s <= maxSlot {
			delete(ix.slots, s)
		}
	}
	ix.n -= removed
	return removed
}

// collect offers the plan's candidates to col. The caller holds mu for
// reading.
func (ix *logIndex) collect(p *plan, col *collector) {
	if p.exact {
		if c := ix.chans[p.filter]; c != nil {
			c.scan(p, col)
		}
		return
	}
	curs := col.s.ix[:0]
	defer func() { col.s.ix = curs[:0] }()
	ix.tree.Ascend(p.prefix, func(ch string, c *ichan) bool {
		if !strings.HasPrefix(ch, p.prefix) {
			return false
		}
		if p.matches(ch) && len(c.ents) > 0 {
			curs = append(curs, newIxCursor(c, p))
		}
		return true
	})
	merge(col, curs)
}

// ixCursor walks the entries of one channel that a query may return, best
// first.
type ixCursor struct {
	c *ichan
	p *plan
	i int // the next entry to look at
}

func newIxCursor(c *ichan, p *plan) ixCursor {
	k := ixCursor{c: c, p: p}
	switch {
	case p.newest && p.hasHi:
		k.i, _ = c.search(p.hi) // first entry not below hi
		k.i--
	case p.newest:
		k.i = len(c.ents) - 1
	case p.hasLo:
		k.i, _ = c.search(p.lo)
	}
	return k
}

func (k *ixCursor) next(x *cand) bool {
	p, ents := k.p, k.c.ents
	for k.i >= 0 && k.i < len(ents) {
		e := &ents[k.i]
		if p.newest {
			if p.hasLo && e.id.Compare(p.lo) < 0 {
				break
			}
			k.i--
		} else {
			if p.hasHi && e.id.Compare(p.hi) >= 0 {
				break
			}
			k.i++
		}
		if e.expires != 0 && e.expires <= p.now {
			continue
		}
		*x = cand{id: e.id, ch: k.c.name, plen: int(e.size), expires: e.expires, cpos: e.cpos}
		return true
	}
	k.i = -1
	return false
}

// scan offers the messages of c to col, best first.
func (c *ichan) scan(p *plan, col *collector) {
	col.startChannel()
	k := newIxCursor(c, p)
	var x cand
	for k.next(&x) && col.wants(&x) {
		col.add(x)
	}
}

// fromCache returns the messages of sel, in order, with the payloads found
// in the cache copied in; todo lists the indexes of the others, whose
// Payload slices (of the right length, in the same allocation) are to be
// filled from the log. The caller holds mu for reading.
func (ix *logIndex) fromCache(sel []cand) (out []Message, todo []int) {
	arena := 0
	for i := range sel {
		arena += sel[i].plen
	}
	buf := make([]byte, arena)
	out = make([]Message, len(sel))
	off := 0
	for i := range sel {
		x := &sel[i]
		p := buf[off : off+x.plen : off+x.plen]
		off += x.plen
		out[i] = Message{ID: x.id, Channel: x.ch, Payload: p, Expires: x.expires}
		if !ix.cache.get(p, x.cpos) {
			todo = append(todo, i)
		}
	}
	return out, todo
}

// load fills the index from the log and returns how many records it could
// not decode (they are skipped).
func (ix *logIndex) load(tx *bbolt.Tx) (bad int) {
	unsorted := map[*ichan]bool{}
	lb := tx.Bucket(bucketLog)
	c := lb.Cursor()
	for name, v := c.First(); name != nil; name, v = c.Next() {
		if v != nil || len(name) != 8 {
			bad++
			continue
		}
		slot := binary.BigEndian.Uint64(name)
		sc := lb.Bucket(name).Cursor()
		for k, v := sc.First(); k != nil; k, v = sc.Next() {
			if len(k) <= 16 || len(v) < 9 || v[0] != valVersion || len(v)-9 > 1<<31 {
				bad++
				continue
			}
			e := ient{id: ID(k[:16]), expires: int64(binary.BigEndian.Uint64(v[1:9])), size: uint32(len(v) - 9)}
			if e.expires < 0 || logSlot(e.expires) != slot {
				bad++
				continue
			}
			ch := ix.chans[string(k[16:])]
			if ch == nil {
				name := string(k[16:])
				if topic.ValidateChannel(name) != nil {
					bad++
					continue
				}
				ch = &ichan{name: name, minSlot: slotNever}
				ix.chans[name] = ch
				ix.tree.Set(name, ch)
			}
			if n := len(ch.ents); n > 0 && ch.ents[n-1].id.Compare(e.id) >= 0 {
				unsorted[ch] = true
			}
			ch.ents = append(ch.ents, e)
			ch.minSlot = min(ch.minSlot, slot)
			ix.slots[slot]++
			ix.n++
		}
	}
	// A channel's messages come slot by slot: sort those that span slots out
	// of order. The same (channel, ID) in two slots is not written by Bolt.
	for ch := range unsorted {
		slices.SortFunc(ch.ents, func(a, b ient) int { return a.id.Compare(b.id) })
		n := len(ch.ents)
		ch.ents = slices.CompactFunc(ch.ents, func(a, b ient) bool { return a.id == b.id })
		if d := n - len(ch.ents); d > 0 {
			bad += d
			ix.n -= d
			ix.slots = map[uint64]int{}
			for _, c := range ix.chans {
				for _, e := range c.ents {
					ix.slots[logSlot(e.expires)]++
				}
			}
		}
	}
	return bad
}

// warm fills the payload cache with the newest payloads of the log (by ID
// time), as many as fit, so that queries after a restart are served from
// memory as they were before it.
func (ix *logIndex) warm(tx *bbolt.Tx) {
	if ix.cache.max <= 0 || ix.n == 0 {
		return
	}
	// The cutoff: the oldest ID time whose newer messages all fit.
	type ts struct {
		t    int64
		size uint32
	}
	all := make([]ts, 0, ix.n)
	for _, c := range ix.chans {
		for _, e := range c.ents {
			all = append(all, ts{e.id.UnixNano(), e.size})
		}
	}
	slices.SortFunc(all, func(a, b ts) int { return cmp.Compare(b.t, a.t) })
	budget, cutoff := ix.cache.max, int64(math.MaxInt64)
	for _, x := range all {
		if int(x.size) > ix.cache.max/8 {
			continue // not cached anyway
		}
		if budget -= int(x.size); budget < 0 {
			break
		}
		cutoff = x.t
	}
	all = nil
	lb := tx.Bucket(bucketLog)
	c := lb.Cursor()
	for name, v := c.First(); name != nil; name, v = c.Next() {
		if v != nil || len(name) != 8 {
			continue
		}
		sc := lb.Bucket(name).Cursor()
		// Keys start with the ID: the newest are at the end of each slot.
		for k, v := sc.Last(); k != nil; k, v = sc.Prev() {
			if len(k) <= 16 || len(v) < 9 {
				continue
			}
			if ID(k[:16]).UnixNano() < cutoff {
				break
			}
			ch := ix.chans[string(k[16:])]
			if ch == nil {
				continue
			}
			if i, ok := ch.search(ID(k[:16])); ok && ch.ents[i].size == uint32(len(v)-9) && ch.ents[i].cpos == 0 {
				ch.ents[i].cpos = ix.cache.add(v[9:])
			}
		}
	}
}
