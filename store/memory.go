package store

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/heraldmq/herald/topic"
	"github.com/tidwall/btree"
)

// Memory is a Store that keeps everything in memory, in B-trees
// (github.com/tidwall/btree). Its contents are lost on Close. It suits tests,
// ephemeral history and embedders that need no durability.
//
// All methods are safe for concurrent use. Store is atomic and visible to the
// next Query as soon as it returns. One read-write mutex guards the data:
// queries run in parallel, writes and sweep batches (at most 1024 removals
// per lock hold) exclude them.
type Memory struct {
	opts Options

	mu       sync.RWMutex
	closed   bool
	chans    *btree.Map[string, *memChan] // channel -> history
	retained *btree.Map[string, memMsg]   // channel -> retained message
	expiry   *btree.BTreeG[expEntry]      // expiry index
	bans     map[string]struct{}          // see AddBan

	closeOnce sync.Once
	sweeper   *sweeper
}

type memMsg struct {
	id      ID
	payload []byte
	expires int64
}

type memChan struct {
	msgs *btree.BTreeG[memMsg]
}

type expEntry struct {
	expires  int64
	ch       string
	id       ID
	retained bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store and starts its sweeper.
func NewMemory(opts Options) *Memory {
	m := &Memory{
		opts:     opts.withDefaults(),
		chans:    btree.NewMap[string, *memChan](0),
		retained: btree.NewMap[string, memMsg](0),
		expiry: btree.NewBTreeGOptions(func(a, b expEntry) bool {
			if a.expires != b.expires {
				return a.expires < b.expires
			}
			if a.ch != b.ch {
				return a.ch < b.ch
			}
			if c := a.id.Compare(b.id); c != 0 {
				return c < 0
			}
			return !a.retained && b.retained
		}, btree.Options{NoLocks: true}),
	}
	m.sweeper = startSweeper(&m.opts, m.Sweep)
	return m
}

func lessMsg(a, b memMsg) bool { return a.id.Compare(b.id) < 0 }

// Store implements Store. It copies the payloads.
func (m *Memory) Store(ctx context.Context, msgs ...Message) error {
	for i := range msgs {
		if err := m.opts.validate(&msgs[i]); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Copy payloads before taking the lock, in one allocation.
	total := 0
	for i := range msgs {
		total += len(msgs[i].Payload)
	}
	buf := make([]byte, 0, total)
	now := m.opts.Clock().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for i := range msgs {
		msg := &msgs[i]
		start := len(buf)
		buf = append(buf, msg.Payload...)
		mm := memMsg{id: msg.ID, payload: buf[start:len(buf):len(buf)], expires: msg.Expires}
		if msg.Retained {
			m.setRetained(msg.Channel, mm, now)
			continue
		}
		c, ok := m.chans.Get(msg.Channel)
		if !ok {
			c = &memChan{msgs: btree.NewBTreeGOptions(lessMsg, btree.Options{NoLocks: true})}
			m.chans.Set(msg.Channel, c)
		}
		c.msgs.Set(mm)
		if mm.expires != 0 {
			m.expiry.Set(expEntry{expires: mm.expires, ch: msg.Channel, id: mm.id})
		}
	}
	return nil
}

func (m *Memory) setRetained(ch string, mm memMsg, now int64) {
	if cur, ok := m.retained.Get(ch); ok && (cur.expires == 0 || cur.expires > now) && cur.id.Compare(mm.id) > 0 {
		return // a newer retained message wins, unless it has expired
	}
	if len(mm.payload) == 0 {
		m.retained.Delete(ch)
		return
	}
	m.retained.Set(ch, mm)
	if mm.expires != 0 {
		m.expiry.Set(expEntry{expires: mm.expires, ch: ch, id: mm.id, retained: true})
	}
}

// Query implements Store.
func (m *Memory) Query(ctx context.Context, q Query) ([]Message, error) {
	p, err := m.opts.plan(q)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	if p.empty {
		return nil, nil
	}
	col := newCollector(&p)
	defer col.release()
	if p.exact {
		if c, ok := m.chans.Get(p.filter); ok {
			m.scan(&p, col, p.filter, c)
		}
		return col.result(), nil
	}
	curs := col.s.mem[:0]
	m.chans.Ascend(p.prefix, func(ch string, c *memChan) bool {
		if !strings.HasPrefix(ch, p.prefix) {
			return false
		}
		if p.matches(ch) {
			curs = append(curs, memCursor{c: c, ch: ch, p: &p})
		}
		return true
	})
	merge(col, curs)
	col.s.mem = curs[:0]
	return col.result(), nil
}

// memCursor walks the messages of one channel that a query may return, best
// first, fetching them from the channel's tree a few at a time.
type memCursor struct {
	c        *memChan
	ch       string
	p        *plan
	buf      [8]memMsg // fetched, best first: buf[i:n] not offered yet
	i, n     int
	pivot    ID // the last message fetched: the next fetch starts after it
	started  bool
	finished bool // nothing left to fetch
}

func (k *memCursor) next(x *cand) bool {
	for {
		for k.i < k.n {
			mm := &k.buf[k.i]
			k.i++
			if mm.expires != 0 && mm.expires <= k.p.now {
				continue
			}
			*x = cand{id: mm.id, ch: k.ch, payload: mm.payload, plen: len(mm.payload), expires: mm.expires}
			return true
		}
		if k.finished {
			return false
		}
		k.fill()
	}
}

// fill fetches the next messages of the window, best first.
func (k *memCursor) fill() {
	p := k.p
	k.i, k.n = 0, 0
	stopped := false
	visit := func(mm memMsg) bool {
		if k.started && mm.id == k.pivot {
			return true // where the previous fetch ended
		}
		if !p.inWindow(&mm.id) {
			if p.newest && p.hasHi && mm.id == p.hi {
				return true // the exclusive upper bound itself
			}
			stopped = true
			return false
		}
		k.buf[k.n] = mm
		k.n++
		return k.n < len(k.buf)
	}
	switch {
	case p.newest && k.started:
		k.c.msgs.Descend(memMsg{id: k.pivot}, visit)
	case p.newest && p.hasHi:
		k.c.msgs.Descend(memMsg{id: p.hi}, visit)
	case p.newest:
		k.c.msgs.Reverse(visit)
	case k.started:
		k.c.msgs.Ascend(memMsg{id: k.pivot}, visit)
	case p.hasLo:
		k.c.msgs.Ascend(memMsg{id: p.lo}, visit)
	default:
		k.c.msgs.Scan(visit)
	}
	k.started = true
	if stopped || k.n < len(k.buf) {
		k.finished = true
	}
	if k.n > 0 {
		k.pivot = k.buf[k.n-1].id
	}
	clear(k.buf[k.n:])
}

// scan offers the messages of one channel to col, best first.
func (m *Memory) scan(p *plan, col *collector, ch string, c *memChan) {
	col.startChannel()
	visit := func(mm memMsg) bool {
		if !p.inWindow(&mm.id) {
			// Scans start inside the window on the near side, so leaving it
			// means the far side was passed (except for the exclusive pivot).
			if p.newest && p.hasHi && mm.id == p.hi {
				return true
			}
			return false
		}
		if mm.expires != 0 && mm.expires <= p.now {
			return true
		}
		x := cand{id: mm.id, ch: ch, payload: mm.payload, plen: len(mm.payload), expires: mm.expires}
		if !col.wants(&x) {
			return false
		}
		col.add(x)
		return true
	}
	switch {
	case p.newest && p.hasHi:
		c.msgs.Descend(memMsg{id: p.hi}, visit)
	case p.newest:
		c.msgs.Reverse(visit)
	case p.hasLo:
		c.msgs.Ascend(memMsg{id: p.lo}, visit)
	default:
		c.msgs.Scan(visit)
	}
}

// Retained implements Store.
func (m *Memory) Retained(ctx context.Context, filter string, mode topic.Mode, fn func(Message) error) error {
	if err := topic.ValidateFilter(filter); err != nil {
		return err
	}
	prefix, _ := topic.LiteralPrefix(filter)
	from, first := prefix, true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Collect a bounded chunk under the lock, deliver it without.
		var chunk []Message
		m.mu.RLock()
		if m.closed {
			m.mu.RUnlock()
			return ErrClosed
		}
		now := m.opts.Clock().UnixNano()
		more := false
		m.retained.Ascend(from, func(ch string, mm memMsg) bool {
			if !first && ch == from {
				return true
			}
			if !strings.HasPrefix(ch, prefix) {
				return false
			}
			if len(chunk) == 256 {
				more = true
				return false
			}
			if topic.Match(filter, ch, mode) && (mm.expires == 0 || mm.expires > now) {
				chunk = append(chunk, Message{ID: mm.id, Channel: ch, Payload: append([]byte(nil), mm.payload...),
					Expires: mm.expires, Retained: true})
			}
			from = ch
			return true
		})
		m.mu.RUnlock()
		first = false
		for _, msg := range chunk {
			if err := fn(msg); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, channel string, ids ...ID) (int, error) {
	if err := topic.ValidateChannel(channel); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	n := 0
	c, ok := m.chans.Get(channel)
	if len(ids) == 0 {
		if ok {
			n += c.msgs.Len()
			m.chans.Delete(channel)
		}
		if _, ok := m.retained.Delete(channel); ok {
			n++
		}
		return n, nil
	}
	for _, id := range ids {
		if ok {
			if _, found := c.msgs.Delete(memMsg{id: id}); found {
				n++
			}
		}
		if cur, found := m.retained.Get(channel); found && cur.id == id {
			m.retained.Delete(channel)
			n++
		}
	}
	if ok && c.msgs.Len() == 0 {
		m.chans.Delete(channel)
	}
	return n, nil
}

// Sweep removes every message expired at the time of the call, holding the
// lock for at most 1024 removals at a time. It returns how many messages it
// removed. The background sweeper calls it every Options.SweepInterval.
func (m *Memory) Sweep(ctx context.Context) (int, error) {
	total := 0
	now := m.opts.Clock().UnixNano()
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return total, ErrClosed
		}
		done := true
		for range 1024 {
			e, ok := m.expiry.Min()
			if !ok || e.expires > now {
				break
			}
			m.expiry.PopMin()
			if m.removeExpired(e) {
				total++
			}
			done = false
		}
		m.mu.Unlock()
		if done {
			return total, nil
		}
	}
}

// removeExpired removes the message an expiry entry points at, if it is still
// the same message (not replaced or deleted since).
func (m *Memory) removeExpired(e expEntry) bool {
	if e.retained {
		if cur, ok := m.retained.Get(e.ch); ok && cur.id == e.id && cur.expires == e.expires {
			m.retained.Delete(e.ch)
			return true
		}
		return false
	}
	c, ok := m.chans.Get(e.ch)
	if !ok {
		return false
	}
	cur, ok := c.msgs.Get(memMsg{id: e.id})
	if !ok || cur.expires != e.expires {
		return false
	}
	c.msgs.Delete(cur)
	if c.msgs.Len() == 0 {
		m.chans.Delete(e.ch)
	}
	return true
}

// Close implements Store: it stops the sweeper and drops the data.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.sweeper.stop()
		m.mu.Lock()
		m.closed = true
		m.chans, m.retained, m.expiry = nil, nil, nil
		m.mu.Unlock()
	})
	return nil
}

// LoadBans returns the keys recorded as banned by AddBan, in byte order.
// Memory keeps them until Close only; it implements the engine's BanStore.
func (m *Memory) LoadBans(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	keys := make([]string, 0, len(m.bans))
	for k := range m.bans {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// AddBan records that key is banned.
func (m *Memory) AddBan(ctx context.Context, key string) error { return m.saveBan(ctx, key, true) }

// RemoveBan records that key is no longer banned.
func (m *Memory) RemoveBan(ctx context.Context, key string) error { return m.saveBan(ctx, key, false) }

func (m *Memory) saveBan(ctx context.Context, key string, banned bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if banned {
		if m.bans == nil {
			m.bans = make(map[string]struct{})
		}
		m.bans[key] = struct{}{}
	} else {
		delete(m.bans, key)
	}
	return nil
}
