package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"

	"go.etcd.io/bbolt"
)

// request is one Store call waiting for the committer. Its buffers are
// referenced by bbolt until the commit, so a request is reused only after its
// caller received the outcome.
type request struct {
	buf  []byte
	ents []entry
	// waiting is true from the queueing of the request until either the
	// committer answers it or its caller gives up (ctx): see answered.
	waiting atomic.Bool
}

type entry struct {
	key     []byte // history: ID channel; retained: channel 0x00 ID
	val     []byte // encoded value (history or retained layout)
	ch      string // the caller's channel string (immutable)
	id      ID
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
		if m.Retained {
			buf = append(buf, m.Channel...)
			buf = append(buf, 0)
			buf = append(buf, m.ID[:]...)
		} else {
			buf = append(buf, m.ID[:]...)
			buf = append(buf, m.Channel...)
		}
		vs := len(buf)
		buf = append(buf, valVersion)
		if m.Retained {
			buf = append(buf, m.ID[:]...)
		}
		buf = binary.BigEndian.AppendUint64(buf, uint64(m.Expires))
		buf = append(buf, m.Payload...)
		e := entry{key: buf[ks:vs:vs], val: buf[vs:len(buf):len(buf)], ch: m.Channel, id: m.ID, expires: m.Expires}
		if m.Retained {
			e.kind, e.clear = kindRet, len(m.Payload) == 0
		}
		r.ents = append(r.ents, e)
	}
	r.buf = buf
}

// group is the answer to every request of one batch: the committer sets err
// and closes done. One close wakes every writer of the batch, where a send
// per writer would cost the committer a channel operation each.
type group struct {
	done chan struct{}
	err  error
}

func newGroup() *group { return &group{done: make(chan struct{})} }

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
	r.waiting.Store(true)
	b.queue = append(b.queue, r)
	g := b.group
	if len(b.queue) == 1 {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	if cancel := ctx.Done(); cancel != nil {
		select {
		case <-g.done:
		case <-cancel:
			if r.waiting.CompareAndSwap(true, false) {
				// The committer still owns r; it is dropped, never reused.
				return ctx.Err()
			}
			<-g.done // answered meanwhile
		}
	} else {
		<-g.done
	}
	b.back()
	b.pool.Put(r)
	return g.err
}

// back records that the caller of an answered request has its answer.
func (b *Bolt) back() {
	if b.answered.Add(-1) == 0 {
		select {
		case b.allBack <- struct{}{}:
		default:
		}
	}
}

// commitLoop is the committer: it commits whatever is queued in one
// transaction, answers every request in it, and repeats. Before it takes the
// next group it waits until every writer it answered has its answer, so
// that writers storing again at once share the next sync (in a busy program
// whose answered writers wait long for a CPU, the next group waits as long).
func (b *Bolt) commitLoop() {
	defer close(b.done)
	defer func() {
		b.setBusy(false) // the applier finishes alone
		if b.ixReq != nil {
			close(b.ixReq)
			<-b.ixDone
		}
	}()
	var batch []*request
	for {
		// Let the writers answered last time queue their next requests
		// first: scheduler yields while the queue grows (at most four),
		// never a timed wait. If some of those writers have still not run
		// (they wait in the run queue of a busy P, which this P does not
		// steal from while the committer keeps yielding to itself), wait
		// until every one has its answer: each is runnable, so the wait
		// ends, and this P, idle meanwhile, runs or steals them. Then yield
		// again while the queue grows.
		b.gather()
		if b.answered.Load() > 0 {
			for b.answered.Load() > 0 {
				<-b.allBack
			}
			b.gather()
		}
		b.mu.Lock()
		for len(b.queue) == 0 && !b.stopping {
			b.mu.Unlock()
			b.setBusy(false)
			<-b.wake
			b.setBusy(true)
			b.mu.Lock()
		}
		if len(b.queue) == 0 { // stopping and drained
			b.mu.Unlock()
			return
		}
		batch, b.queue = b.queue, batch[:0]
		g := b.group
		b.group = newGroup()
		b.mu.Unlock()

		var err error
		if !hasRetained(batch) {
			err = b.commitWAL(batch)
		} else {
			b.setBusy(false) // commit waits for the applier
			err = b.commit(batch)
			b.setBusy(true)
		}
		b.commits.Add(1)
		b.committed.Add(int64(len(batch)))
		if err != nil {
			err = fmt.Errorf("store: commit: %w", err)
			b.opts.Logger.Error("store: commit failed", "err", err, "requests", len(batch))
		}
		n := 0
		for _, r := range batch {
			if r.waiting.CompareAndSwap(true, false) {
				n++
			}
		}
		b.answered.Add(int64(n))
		g.err = err
		close(g.done)
		clear(batch)
	}
}

// gather yields while the queue grows, at most four times.
func (b *Bolt) gather() {
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
}

// histOf returns the history of batch in key (ID) order, so that the log is
// written at its end page by page; of several messages with the same key,
// the last one. It is the committer's scratch: release it with doneHist.
func (b *Bolt) histOf(batch []*request) []*entry {
	hist := b.hist[:0]
	for _, r := range batch {
		for i := range r.ents {
			if r.ents[i].kind != kindRet {
				hist = append(hist, &r.ents[i])
			}
		}
	}
	slices.SortStableFunc(hist, func(x, y *entry) int { return bytes.Compare(x.key, y.key) })
	out := hist[:0]
	for i, e := range hist {
		if i+1 < len(hist) && bytes.Equal(e.key, hist[i+1].key) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// doneHist releases the scratch returned by histOf.
func (b *Bolt) doneHist(hist []*entry) {
	clear(hist)
	b.hist = hist[:0]
}

// commit writes batch in one transaction, then adds its history to the
// index. It first has the applier apply every logged record.
func (b *Bolt) commit(batch []*request) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if err := b.flush(); err != nil {
		return err
	}
	hist := b.histOf(batch)
	now := b.opts.Clock().UnixNano()
	err := b.db.Update(func(tx *bbolt.Tx) error { return b.apply(tx, batch, hist, now) })
	if err == nil && len(hist) > 0 {
		b.ix.mu.Lock()
		for _, e := range hist {
			b.ix.put(e.ch, ient{id: e.id, expires: e.expires, size: uint32(len(e.val) - 9), cpos: b.ix.cache.add(e.val[9:])})
		}
		b.ix.mu.Unlock()
	}
	b.doneHist(hist)
	return err
}

// apply writes a batch: hist (sorted, without duplicates) to the log, and
// the retained messages of batch in order.
func (b *Bolt) apply(tx *bbolt.Tx, batch []*request, hist []*entry, now int64) error {
	lb := tx.Bucket(bucketLog)
	var (
		slot uint64
		sb   *bbolt.Bucket
	)
	for _, e := range hist {
		s := logSlot(e.expires)
		if old, ok := b.ix.find(e.ch, e.id); ok && logSlot(old.expires) != s {
			// A replacement in another slot: remove the old record.
			if ob := lb.Bucket(slotKey(logSlot(old.expires))); ob != nil {
				if err := ob.Delete(e.key); err != nil {
					return err
				}
			}
		}
		if sb == nil || s != slot {
			var err error
			if sb, err = lb.CreateBucketIfNotExists(slotKey(s)); err != nil {
				return err
			}
			sb.FillPercent = 1 // written at its end: full pages
			slot = s
		}
		if err := sb.Put(e.key, e.val); err != nil {
			return err
		}
	}
	ret, exp := tx.Bucket(bucketRetained), tx.Bucket(bucketExpiry)
	var expVals []byte // values of the expiry index: valid until the commit
	for _, r := range batch {
		for i := range r.ents {
			e := &r.ents[i]
			if e.kind != kindRet {
				continue
			}
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
			if e.expires == 0 {
				continue
			}
			xb, err := exp.CreateBucketIfNotExists(slotName(e.expires))
			if err != nil {
				return err
			}
			if expVals == nil {
				expVals = make([]byte, 0, 9*8)
			}
			if len(expVals)+9 > cap(expVals) {
				expVals = make([]byte, 0, 2*cap(expVals))
			}
			vs := len(expVals)
			expVals = append(expVals, kindRet)
			expVals = binary.BigEndian.AppendUint64(expVals, uint64(e.expires))
			if err := xb.Put(e.key, expVals[vs:len(expVals):len(expVals)]); err != nil {
				return err
			}
		}
	}
	return nil
}
