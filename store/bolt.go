package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Bolt is a durable Store in one bbolt (go.etcd.io/bbolt) file.
//
// # Durability
//
// By default Store returns nil only after the messages are committed in a
// bbolt transaction and the file is synced (fdatasync, twice per commit as
// bbolt requires: pages, then meta page), so an acknowledged message survives
// a process crash, an operating system crash and a power loss. Concurrent
// Store calls are grouped: one committer goroutine commits everything queued
// in one transaction, so many writers share each sync (group commit). With
// Options.NoSync the file is not synced: a process crash still loses nothing
// (the kernel has the writes), but an operating system crash or power loss may
// lose acknowledged messages and corrupt the file. Delete and the sweeper use
// the same sync policy.
//
// # Concurrency
//
// All methods are safe for concurrent use. Queries run in parallel with each
// other and with writes (bbolt MVCC: a query sees the last commit before it
// started). Writes (Store batches, Delete, sweep batches) are serialised by
// bbolt; a sweep batch holds the write lock for at most Options.SweepBatch
// removals.
type Bolt struct {
	opts Options
	db   *bbolt.DB
	path string

	mu       sync.Mutex
	queue    []*request
	stopping bool
	wake     chan struct{}
	done     chan struct{} // closed when the committer exits

	commits   atomic.Int64 // transactions committed by the committer
	committed atomic.Int64 // Store calls they held
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	sweeper   *sweeper
	pool      sync.Pool
}

var _ Store = (*Bolt)(nil)

var (
	bucketMsgs     = []byte("m") // channel 0x00 ID -> valVersion expires(8) payload
	bucketRetained = []byte("r") // channel -> valVersion ID(16) expires(8) payload
	bucketExpiry   = []byte("x") // slot(8) -> bucket: channel 0x00 ID -> kind expires(8)
	bucketMeta     = []byte("meta")
	keyVersion     = []byte("version")
)

const (
	formatVersion = 1
	valVersion    = 1
	// slotShift sets the width of an expiry slot: 2^30 ns, about 1.07 s.
	slotShift = 30
	kindHist  = 0
	kindRet   = 1
)

// OpenBolt opens (creating if needed) the bbolt file at path and starts the
// committer and the sweeper. The file is locked: a second OpenBolt of the
// same path, from any process, fails after one second.
func OpenBolt(path string, opts Options) (*Bolt, error) {
	o := opts.withDefaults()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         time.Second,
		NoSync:          o.NoSync,
		FreelistType:    bbolt.FreelistMapType,
		NoFreelistSync:  true,
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMsgs, bucketRetained, bucketExpiry, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil:
			return meta.Put(keyVersion, []byte{formatVersion})
		case len(v) != 1 || v[0] != formatVersion:
			return fmt.Errorf("%w: unknown format version %v", ErrCorrupt, v)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	b := &Bolt{opts: o, db: db, path: path, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.pool.New = func() any { return &request{done: make(chan error, 1)} }
	go b.commitLoop()
	b.sweeper = startSweeper(&b.opts, b.Sweep)
	return b, nil
}

// request is one Store call waiting for the committer. Its buffers are
// referenced by bbolt until the commit, so a request is reused only after its
// caller received the outcome.
type request struct {
	buf  []byte
	ents []entry
	done chan error
}

type entry struct {
	key     []byte // channel 0x00 ID
	val     []byte // encoded value (history or retained layout)
	expires int64
	kind    byte
	clear   bool // retained with an empty payload
}

// encode copies msgs into r in their stored layout.
func (r *request) encode(msgs []Message) {
	size := 0
	for i := range msgs {
		size += 2*len(msgs[i].Channel) + 1 + 16 + 1 + 16 + 8 + len(msgs[i].Payload)
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, 0, size)
	}
	buf := r.buf[:0]
	r.ents = r.ents[:0]
	for i := range msgs {
		m := &msgs[i]
		ks := len(buf)
		buf = append(buf, m.Channel...)
		buf = append(buf, 0)
		buf = append(buf, m.ID[:]...)
		vs := len(buf)
		buf = append(buf, valVersion)
		if m.Retained {
			buf = append(buf, m.ID[:]...)
		}
		buf = binary.BigEndian.AppendUint64(buf, uint64(m.Expires))
		buf = append(buf, m.Payload...)
		e := entry{key: buf[ks:vs:vs], val: buf[vs:len(buf):len(buf)], expires: m.Expires}
		if m.Retained {
			e.kind, e.clear = kindRet, len(m.Payload) == 0
		}
		r.ents = append(r.ents, e)
	}
	r.buf = buf
}

// Store implements Store. It returns after the commit (and, unless NoSync,
// the sync) of the transaction that holds msgs. The work done on the calling
// goroutine is validation and one copy of msgs into a pooled buffer.
func (b *Bolt) Store(ctx context.Context, msgs ...Message) error {
	for i := range msgs {
		if err := b.opts.validate(&msgs[i]); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	r := b.pool.Get().(*request)
	r.encode(msgs)
	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		return ErrClosed
	}
	b.queue = append(b.queue, r)
	if len(b.queue) == 1 {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	select {
	case err := <-r.done:
		b.pool.Put(r)
		return err
	case <-ctx.Done():
		// The committer still owns r; it is dropped, never reused.
		return ctx.Err()
	}
}

// commitLoop is the committer: it commits whatever is queued in one
// transaction, answers every request in it, and repeats.
func (b *Bolt) commitLoop() {
	defer close(b.done)
	var batch []*request
	for {
		// Let the writers woken by the previous commit queue their next
		// requests first: scheduler yields while the queue grows (at most
		// four), never a timed wait.
		for i, n := 0, -1; i < 4; i++ {
			runtime.Gosched()
			b.mu.Lock()
			m := len(b.queue)
			b.mu.Unlock()
			if m == n {
				break
			}
			n = m
		}
		b.mu.Lock()
		for len(b.queue) == 0 && !b.stopping {
			b.mu.Unlock()
			<-b.wake
			b.mu.Lock()
		}
		if len(b.queue) == 0 { // stopping and drained
			b.mu.Unlock()
			return
		}
		batch, b.queue = b.queue, batch[:0]
		b.mu.Unlock()

		now := b.opts.Now().UnixNano()
		err := b.db.Update(func(tx *bbolt.Tx) error { return applyBatch(tx, batch, now) })
		b.commits.Add(1)
		b.committed.Add(int64(len(batch)))
		if err != nil {
			err = fmt.Errorf("store: commit: %w", err)
			b.opts.Logger.Error("store: commit failed", "err", err, "requests", len(batch))
		}
		for _, r := range batch {
			r.done <- err
		}
		clear(batch)
	}
}

func slotName(expires int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(expires)>>slotShift)
}

func applyBatch(tx *bbolt.Tx, batch []*request, now int64) error {
	msgs, ret, exp := tx.Bucket(bucketMsgs), tx.Bucket(bucketRetained), tx.Bucket(bucketExpiry)
	// Channels mostly grow at their end: fill pages more than bbolt's 50%.
	msgs.FillPercent = 0.9
	var (
		slot    uint64 = 1<<64 - 1
		slotB   *bbolt.Bucket
		expVals []byte
	)
	// The expiry index values must stay valid until the commit: one buffer.
	n := 0
	for _, r := range batch {
		n += len(r.ents)
	}
	expVals = make([]byte, 0, 9*n)
	for _, r := range batch {
		for i := range r.ents {
			e := &r.ents[i]
			if e.kind == kindRet {
				ch := e.key[:len(e.key)-17]
				if cur := ret.Get(ch); len(cur) >= 25 && bytes.Compare(cur[1:17], e.key[len(e.key)-16:]) > 0 {
					if exp := int64(binary.BigEndian.Uint64(cur[17:25])); exp == 0 || exp > now {
						continue // a newer retained message wins, unless it has expired
					}
				}
				if e.clear {
					if err := ret.Delete(ch); err != nil {
						return err
					}
					continue
				}
				if err := ret.Put(ch, e.val); err != nil {
					return err
				}
			} else if err := msgs.Put(e.key, e.val); err != nil {
				return err
			}
			if e.expires == 0 {
				continue
			}
			if s := uint64(e.expires) >> slotShift; s != slot || slotB == nil {
				var err error
				if slotB, err = exp.CreateBucketIfNotExists(slotName(e.expires)); err != nil {
					return err
				}
				slot = s
			}
			vs := len(expVals)
			expVals = append(expVals, e.kind)
			expVals = binary.BigEndian.AppendUint64(expVals, uint64(e.expires))
			if err := slotB.Put(e.key, expVals[vs:len(expVals):len(expVals)]); err != nil {
				return err
			}
		}
	}
	return nil
}

// view runs fn in a read transaction, mapping bbolt's closed error.
func (b *Bolt) view(fn func(tx *bbolt.Tx) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	err := b.db.View(fn)
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// update runs fn in a write transaction, mapping bbolt's closed error.
func (b *Bolt) update(fn func(tx *bbolt.Tx) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	err := b.db.Update(fn)
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Query implements Store. It runs in one read transaction.
func (b *Bolt) Query(ctx context.Context, q Query) ([]Message, error) {
	p, err := b.opts.plan(q)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Message
	err = b.view(func(tx *bbolt.Tx) error {
		if p.empty {
			return nil
		}
		c := tx.Bucket(bucketMsgs).Cursor()
		col := newCollector(&p)
		seek := make([]byte, 0, 64)
		if p.exact {
			if _, _, err := scanBolt(c, &p, col, []byte(p.filter), seek); err != nil {
				return err
			}
			out = col.result()
			return nil
		}
		prefix := []byte(p.prefix)
		var k []byte
		if lit, _ := literalPrefix(p.filter); lit == p.filter {
			// A literal Emitter filter: its own channel first (no need to
			// find it), then its descendants, which follow it in key order.
			next, ok, err := scanBolt(c, &p, col, prefix, seek)
			if err != nil {
				return err
			}
			if !ok {
				next, _ = c.Seek(append(append(seek[:0], prefix...), 1))
			}
			k = next
		} else {
			k, _ = c.Seek(prefix)
		}
		for k != nil && bytes.HasPrefix(k, prefix) {
			if len(k) < 17 || k[len(k)-17] != 0 {
				return fmt.Errorf("%w: message key %q", ErrCorrupt, k)
			}
			ch := k[:len(k)-17]
			if p.matches(bytesString(ch)) {
				next, ok, err := scanBolt(c, &p, col, ch, seek)
				if err != nil {
					return err
				}
				if ok {
					k = next
					continue
				}
			}
			seek = append(append(seek[:0], ch...), 1) // first key after the channel
			k, _ = c.Seek(seek)
		}
		out = col.result()
		return nil
	})
	return out, err
}

// scanBolt offers the messages of channel ch to col, best first. ch must stay
// valid for the transaction; seek is scratch space. When it can, it returns
// the first key after the channel (nil at the end of the bucket) and ok.
func scanBolt(c *bbolt.Cursor, p *plan, col *collector, ch, seek []byte) (after []byte, ok bool, err error) {
	col.startChannel()
	pre := append(append(seek[:0], ch...), 0)
	var k, v []byte
	if p.newest {
		if p.hasHi {
			k, _ = c.Seek(append(pre, p.hi[:]...))
		} else {
			pre[len(pre)-1] = 1 // first key after the channel
			k, _ = c.Seek(pre)
			pre[len(pre)-1] = 0
			after, ok = k, true
		}
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		if p.hasLo {
			k, v = c.Seek(append(pre, p.lo[:]...))
		} else {
			k, v = c.Seek(pre)
		}
	}
	pre = pre[:len(ch)+1]
	for ; k != nil && len(k) == len(pre)+16 && bytes.HasPrefix(k, pre); k, v = step(c, p.newest) {
		var id ID
		copy(id[:], k[len(pre):])
		if !p.inWindow(&id) {
			return after, ok, nil
		}
		if len(v) < 9 || v[0] != valVersion {
			return nil, false, fmt.Errorf("%w: message value of %x", ErrCorrupt, k)
		}
		expires := int64(binary.BigEndian.Uint64(v[1:9]))
		if expires != 0 && expires <= p.now {
			continue
		}
		x := cand{id: id, chb: k[:len(ch)], payload: v[9:], expires: expires}
		if !col.wants(&x) {
			return after, ok, nil
		}
		col.add(x)
	}
	if !p.newest && (k == nil || !bytes.HasPrefix(k, pre)) {
		return k, true, nil // the forward scan ran off the channel's end
	}
	return after, ok, nil
}

func step(c *bbolt.Cursor, back bool) ([]byte, []byte) {
	if back {
		return c.Prev()
	}
	return c.Next()
}

// decodeRetained decodes a retained value.
func decodeRetained(ch string, v []byte) (Message, error) {
	if len(v) < 25 || v[0] != valVersion {
		return Message{}, fmt.Errorf("%w: retained value of %q", ErrCorrupt, ch)
	}
	m := Message{Channel: ch, Expires: int64(binary.BigEndian.Uint64(v[17:25])), Retained: true}
	copy(m.ID[:], v[1:17])
	m.Payload = append([]byte(nil), v[25:]...)
	return m, nil
}

// Retained implements Store. It reads in chunks of 256 messages, each in its
// own read transaction, and calls fn outside any transaction.
func (b *Bolt) Retained(ctx context.Context, filter string, mode Mode, fn func(Message) error) error {
	if err := ValidateFilter(filter); err != nil {
		return err
	}
	prefix, _ := literalPrefix(filter)
	from := []byte(prefix)
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var chunk []Message
		more := false
		now := b.opts.Now().UnixNano()
		err := b.view(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketRetained).Cursor()
			k, v := c.Seek(from)
			if !first && bytes.Equal(k, from) {
				k, v = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
				if len(chunk) == 256 {
					more = true
					return nil
				}
				from = append(from[:0], k...)
				if !Match(filter, bytesString(k), mode) {
					continue
				}
				m, err := decodeRetained(string(k), v)
				if err != nil {
					return err
				}
				if !m.Expired(now) {
					chunk = append(chunk, m)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		first = false
		for _, m := range chunk {
			if err := fn(m); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// Delete implements Store. It commits (and syncs, unless NoSync) before it
// returns.
func (b *Bolt) Delete(ctx context.Context, channel string, ids ...ID) (int, error) {
	if err := ValidateChannel(channel); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := b.update(func(tx *bbolt.Tx) error {
		n = 0
		msgs, ret := tx.Bucket(bucketMsgs), tx.Bucket(bucketRetained)
		pre := append([]byte(channel), 0)
		if len(ids) == 0 {
			c := msgs.Cursor()
			for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Seek(pre) {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			if ret.Get([]byte(channel)) != nil {
				n++
				return ret.Delete([]byte(channel))
			}
			return nil
		}
		for _, id := range ids {
			key := append(pre[:len(pre):len(pre)], id[:]...)
			if msgs.Get(key) != nil {
				if err := msgs.Delete(key); err != nil {
					return err
				}
				n++
			}
			if cur := ret.Get([]byte(channel)); len(cur) >= 17 && bytes.Equal(cur[1:17], id[:]) {
				if err := ret.Delete([]byte(channel)); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Sweep removes every message expired at the time of the call, in
// transactions of at most Options.SweepBatch removals, and returns how many it
// removed. The expiry index is kept in slots of about one second; a slot is
// swept once all of it has expired (an expired message is never returned
// anyway) and then dropped as a whole. The background sweeper calls Sweep
// every Options.SweepInterval.
func (b *Bolt) Sweep(ctx context.Context) (int, error) {
	now := b.opts.Now().UnixNano()
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more := 0, false
		err := b.update(func(tx *bbolt.Tx) error {
			var err error
			n, more, err = sweepBatch(tx, now, b.opts.SweepBatch)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

func sweepBatch(tx *bbolt.Tx, now int64, budget int) (removed int, more bool, err error) {
	x, msgs, ret := tx.Bucket(bucketExpiry), tx.Bucket(bucketMsgs), tx.Bucket(bucketRetained)
	mc := x.Cursor()
	var drop [][]byte
	msgCur := msgs.Cursor()
	for name, _ := mc.First(); name != nil; name, _ = mc.Next() {
		if len(name) != 8 {
			return removed, false, fmt.Errorf("%w: expiry slot %x", ErrCorrupt, name)
		}
		if (binary.BigEndian.Uint64(name)+1)<<slotShift > uint64(now) {
			break // the slot has not fully expired yet
		}
		sb := x.Bucket(name)
		if sb == nil {
			return removed, false, fmt.Errorf("%w: expiry slot %x", ErrCorrupt, name)
		}
		c := sb.Cursor()
		done := 0
		partial := false
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if budget == 0 {
				partial = true
				break
			}
			budget--
			done++
			if len(k) < 17 || len(v) != 9 {
				continue // not ours; the slot is dropped anyway
			}
			if v[0] == kindRet {
				ch := k[:len(k)-17]
				if cur := ret.Get(ch); len(cur) >= 25 && bytes.Equal(cur[1:17], k[len(k)-16:]) &&
					bytes.Equal(cur[17:25], v[1:9]) {
					if err := ret.Delete(ch); err != nil {
						return removed, false, err
					}
					removed++
				}
				continue
			}
			// The message may have been deleted or replaced since.
			if mk, mv := msgCur.Seek(k); bytes.Equal(mk, k) && len(mv) >= 9 && bytes.Equal(mv[1:9], v[1:9]) {
				if err := msgCur.Delete(); err != nil {
					return removed, false, err
				}
				removed++
			}
		}
		if partial {
			// Remove the handled entries so the next batch goes on from there.
			for range done {
				if k, _ := c.First(); k != nil {
					if err := c.Delete(); err != nil {
						return removed, false, err
					}
				}
			}
			more = true
			break
		}
		drop = append(drop, append([]byte(nil), name...))
	}
	for _, name := range drop {
		if err := x.DeleteBucket(name); err != nil {
			return removed, false, err
		}
	}
	return removed, more, nil
}

// Close implements Store: it stops the sweeper, commits every queued Store
// call, stops the committer and closes the file. It returns the error of
// closing the file; later calls return nil.
func (b *Bolt) Close() error {
	first := false
	b.closeOnce.Do(func() {
		first = true
		b.sweeper.stop()
		b.mu.Lock()
		b.stopping = true
		b.mu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
		<-b.done
		b.closed.Store(true)
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	if !first {
		return nil
	}
	return b.closeErr
}

// Path returns the path of the bbolt file.
func (b *Bolt) Path() string { return b.path }
