package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/heraldmq/herald/store/internal/wal"
	"github.com/heraldmq/herald/topic"
)

// A durable Bolt appends each group of stored history messages to its
// write-ahead log (package wal), a second file next to the bbolt file, with
// one write and one fdatasync, and acknowledges them: bbolt syncs its file
// twice per commit (its pages, then its meta page). A background applier
// moves the logged messages into bbolt in large transactions (normal bbolt
// commits, synced) and records in the same transaction the sequence number
// of the last record it applied. On open, the records after that number are
// applied again. Until a record is applied, queries read its payloads from
// memory (pending).

const (
	// walWrapBytes is the size at which the log starts again at its
	// beginning.
	walWrapBytes = 4 << 20
	// walApplyBytes is how many logged bytes wait in memory before the
	// applier moves them into bbolt (sooner when something needs them there).
	walApplyBytes = walWrapBytes / 4
)

// walPath returns the path of the log of the bbolt file at path.
func walPath(path string) string { return path + "-wal" }

// checkWALOp checks what the log format leaves to Bolt: that the key of an
// op read back holds a valid channel, and that the value of a put has the
// history layout and expires in the op's slot.
func checkWALOp(op *wal.Op) error {
	if topic.ValidateChannel(op.Ch) != nil {
		return fmt.Errorf("log op key %q", op.Key)
	}
	if op.Kind == wal.Put && (len(op.Val) < 9 || op.Val[0] != valVersion ||
		logSlot(int64(binary.BigEndian.Uint64(op.Val[1:9]))) != op.Slot) {
		return fmt.Errorf("log op value of %s", op.Ch)
	}
	return nil
}

// pkey names a logged message that is not applied yet.
type pkey struct {
	id ID
	ch string
}

// hasRetained reports whether batch stores a retained message. Such batches
// bypass the log: retained messages are read from bbolt only.
func hasRetained(batch []*request) bool {
	for _, r := range batch {
		for i := range r.ents {
			if r.ents[i].kind == kindRet {
				return true
			}
		}
	}
	return false
}

// commitWAL logs the history of batch in one record (one write, one
// fdatasync), makes it visible to queries (index, cache, pending values) and
// hands the record to the applier.
func (b *Bolt) commitWAL(batch []*request) error {
	if err := b.applyErr(); err != nil {
		return err
	}
	hist := b.histOf(batch)
	defer b.doneHist(hist)
	if len(hist) == 0 {
		return nil
	}
	rec := b.newRec()
	size := 0
	for _, e := range hist {
		size += wal.OpHeaderSize + len(e.key) + len(e.val)
	}
	rec.Buf = slices.Grow(rec.Buf, size)
	rec.Ops = slices.Grow(rec.Ops, len(hist))
	b.ix.mu.RLock()
	for _, e := range hist {
		s := logSlot(e.expires)
		if old, ok := b.ix.find(e.ch, e.id); ok && logSlot(old.expires) != s {
			rec.Add(wal.Del, logSlot(old.expires), e.key, nil, e.ch)
		}
		rec.Add(wal.Put, s, e.key, e.val, e.ch)
	}
	b.ix.mu.RUnlock()
	err := b.wal.Write(rec)
	if errors.Is(err, wal.ErrWrap) {
		// The log is full: start again at its beginning once everything
		// in it is in bbolt.
		b.setBusy(false)
		err = b.waitApplied(b.wal.LSN())
		b.setBusy(true)
		if err == nil {
			b.wal.Rewind()
			err = b.wal.Write(rec)
		}
	}
	if err == nil {
		if b.wal.Durable() {
			// The indexer indexes the record while this goroutine syncs
			// it, on the CPU the sync leaves idle. So a query may see a
			// message whose Store has not returned yet.
			b.ixReq <- rec
			b.setBusy(false)
			err = b.wal.Sync()
			<-b.ixDone
			b.setBusy(true)
		} else {
			b.index(rec)
		}
	}
	if err != nil {
		// After a failed sync a query may have seen the record's
		// messages: like a database whose commit fails, the store may or
		// may not hold them (and takes no more writes).
		b.amu.Lock()
		if b.aerr == nil {
			// After a failed write or sync the file's state is unknown: no
			// later write can be acknowledged.
			b.aerr = fmt.Errorf("store: write-ahead log: %w", err)
			b.opts.Logger.Error("store: write-ahead log failed; no more writes", "err", err)
		}
		b.acond.Broadcast() // waiters see the error
		b.amu.Unlock()
		return err
	}
	b.amu.Lock()
	b.arecs = append(b.arecs, rec)
	b.abytes += len(rec.Buf)
	b.registered = rec.LSN
	if int64(b.abytes) >= b.opts.walApply {
		b.acond.Broadcast()
	}
	b.amu.Unlock()
	return nil
}

// index makes the messages of a logged record visible to queries (index,
// cache, pending values).
func (b *Bolt) index(rec *wal.Rec) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.pmu.Lock()
	for i := range rec.Ops {
		if op := &rec.Ops[i]; op.Kind == wal.Put {
			b.pending[pkey{ID(op.ID), op.Ch}] = op.Val
		}
	}
	b.pmu.Unlock()
	b.ix.mu.Lock()
	for i := range rec.Ops {
		if op := &rec.Ops[i]; op.Kind == wal.Put {
			b.ix.put(op.Ch, ient{id: ID(op.ID), expires: int64(binary.BigEndian.Uint64(op.Val[1:9])),
				size: uint32(len(op.Val) - 9), cpos: b.ix.cache.add(op.Val[9:])})
		}
	}
	b.ix.mu.Unlock()
}

// setBusy records whether the committer of a durable store is busy: from
// the end of one sync of the log to the start of the next, the writers it
// answered queue their next messages and it writes them. The applier,
// moving the log into bbolt, would compete with them for the CPU, slow that
// part of the cycle down and split the writers into smaller groups, so it
// waits while the committer is busy (see gate and BenchmarkStore). While
// busy, the committer never waits for the applier, nor for anything that may
// wait for the applier (wmu), so the applier always gets to run again.
func (b *Bolt) setBusy(busy bool) {
	if !b.wal.Durable() {
		return
	}
	b.busy.Store(busy)
	if !busy {
		select {
		case b.idle <- struct{}{}:
		default:
		}
	}
}

// gate waits, in the applier, while the committer is busy. Every busy
// stretch of a durable store's committer ends in a sync or an idle wait, so
// the applier is never kept waiting long: it works while the log syncs. The
// applier calls gate every 16 messages it applies.
func (b *Bolt) gate() {
	for b.busy.Load() {
		<-b.idle
	}
}

// indexLoop is the indexer of a durable store: it indexes a record the
// committer has written while the committer syncs it. It exits when ixReq
// is closed.
func (b *Bolt) indexLoop() {
	for rec := range b.ixReq {
		b.index(rec)
		b.ixDone <- struct{}{}
	}
	close(b.ixDone)
}

// newRec returns an empty record, reusing an applied one.
func (b *Bolt) newRec() *wal.Rec {
	b.amu.Lock()
	var r *wal.Rec
	if n := len(b.afree); n > 0 {
		r = b.afree[n-1]
		b.afree[n-1] = nil
		b.afree = b.afree[:n-1]
	}
	b.amu.Unlock()
	if r == nil {
		r = &wal.Rec{}
	}
	r.Reset()
	return r
}

// applyErr returns the sticky error of the log or the applier.
func (b *Bolt) applyErr() error {
	b.amu.Lock()
	defer b.amu.Unlock()
	return b.aerr
}

// flush has the applier apply every record handed to it so far and waits
// for it.
func (b *Bolt) flush() error {
	b.amu.Lock()
	lsn := b.registered
	b.amu.Unlock()
	return b.waitApplied(lsn)
}

// waitApplied waits until the record lsn is applied.
func (b *Bolt) waitApplied(lsn uint64) error {
	b.amu.Lock()
	defer b.amu.Unlock()
	if lsn > b.want {
		b.want = lsn
		b.acond.Broadcast()
	}
	for b.applied < lsn && b.aerr == nil {
		b.acond.Wait()
	}
	return b.aerr
}

// maxFreeRecs and maxFreeRecBytes bound the records kept for reuse.
const (
	maxFreeRecs     = 64
	maxFreeRecBytes = 1 << 20
)

// applyLoop is the applier: it moves logged records into bbolt, many in one
// transaction, when enough bytes wait (walApplyBytes), when somebody waits
// for a record (flush: Delete, sweep, retained messages; the log wrapping
// around) and on Close.
func (b *Bolt) applyLoop() {
	defer close(b.adone)
	b.amu.Lock()
	defer b.amu.Unlock()
	for {
		for len(b.arecs) == 0 || (int64(b.abytes) < b.opts.walApply && b.want <= b.applied && !b.astop) {
			if b.astop && len(b.arecs) == 0 {
				return
			}
			b.acond.Wait()
		}
		if b.aerr != nil {
			// Nothing more can be applied; waiters see the error.
			b.arecs, b.abytes = nil, 0
			b.acond.Broadcast()
			continue
		}
		recs := b.arecs
		b.arecs, b.abytes = nil, 0
		b.amu.Unlock()

		last := recs[len(recs)-1].LSN
		err := b.db.Update(func(tx *bbolt.Tx) error {
			for _, r := range recs {
				if err := applyOps(tx, r.Ops, b.gate); err != nil {
					return err
				}
			}
			b.gate()
			return tx.Bucket(bucketMeta).Put(keyWALLSN, binary.BigEndian.AppendUint64(nil, last))
		})
		if err == nil {
			b.pmu.Lock()
			for _, r := range recs {
				for i := range r.Ops {
					op := &r.Ops[i]
					if op.Kind != wal.Put {
						continue
					}
					k := pkey{ID(op.ID), op.Ch}
					if v, ok := b.pending[k]; ok && &v[0] == &op.Val[0] {
						delete(b.pending, k)
					}
				}
			}
			b.pmu.Unlock()
		}

		b.amu.Lock()
		if err != nil {
			b.aerr = fmt.Errorf("store: apply the write-ahead log: %w", err)
			b.opts.Logger.Error("store: apply failed", "err", err, "records", len(recs))
		} else {
			b.applied = last
			for _, r := range recs {
				if len(b.afree) < maxFreeRecs && cap(r.Buf) <= maxFreeRecBytes {
					b.afree = append(b.afree, r)
				}
			}
		}
		b.acond.Broadcast()
	}
}

// stopApplier applies what is left and stops the applier.
func (b *Bolt) stopApplier() error {
	b.amu.Lock()
	b.astop = true
	b.acond.Broadcast()
	b.amu.Unlock()
	<-b.adone
	err := b.wal.Close()
	if aerr := b.applyErr(); aerr != nil {
		err = aerr
	}
	return err
}

// applyOps applies the ops of one record.
func applyOps(tx *bbolt.Tx, ops []wal.Op, gate func()) error {
	lb := tx.Bucket(bucketLog)
	var (
		slot uint64
		sb   *bbolt.Bucket
	)
	for i := range ops {
		if gate != nil && i%16 == 0 {
			gate()
		}
		op := &ops[i]
		if op.Kind == wal.Del {
			if ob := lb.Bucket(slotKey(op.Slot)); ob != nil {
				if err := ob.Delete(op.Key); err != nil {
					return err
				}
			}
			continue
		}
		if sb == nil || op.Slot != slot {
			var err error
			if sb, err = lb.CreateBucketIfNotExists(slotKey(op.Slot)); err != nil {
				return err
			}
			sb.FillPercent = 1 // written at its end: full pages
			slot = op.Slot
		}
		if err := sb.Put(op.Key, op.Val); err != nil {
			return err
		}
	}
	return nil
}

// readPending fills, from the values logged but not applied yet, the
// payloads of out[i] for i in todo, and returns the indexes it could not
// fill. It runs before the read transaction: a value that is no longer
// pending was applied before that transaction starts.
func (b *Bolt) readPending(out []Message, todo []int) []int {
	b.pmu.Lock()
	defer b.pmu.Unlock()
	if len(b.pending) == 0 {
		return todo
	}
	rest := todo[:0]
	for _, i := range todo {
		m := &out[i]
		if v, ok := b.pending[pkey{m.ID, m.Channel}]; ok {
			fillPayload(m, v)
			continue
		}
		rest = append(rest, i)
	}
	return rest
}

// fillPayload copies the payload and expiry time of a history value v (valid
// layout) into m.
func fillPayload(m *Message, v []byte) {
	if len(v)-9 == len(m.Payload) {
		copy(m.Payload, v[9:])
	} else { // replaced since the index was read
		m.Payload = append([]byte(nil), v[9:]...)
	}
	m.Expires = int64(binary.BigEndian.Uint64(v[1:9]))
}

// replayWAL applies the records of the log of the bbolt file at path that
// bbolt does not have yet, and returns the sequence number of the last
// record of the log.
func replayWAL(db *bbolt.DB, path string, o *Options) (uint64, error) {
	recs, rerr := wal.ReadFile(walPath(path), checkWALOp)
	if rerr != nil && !errors.Is(rerr, wal.ErrCorrupt) {
		return 0, rerr
	}
	if rerr != nil {
		o.Logger.Error("store: write-ahead log record not applied", "path", walPath(path), "err", rerr)
	}
	var applied, last uint64
	err := db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyWALLSN); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		last = applied
		if len(recs) == 0 || recs[len(recs)-1].LSN <= applied {
			return nil
		}
		if recs[0].LSN > applied+1 {
			// Records are missing between the file and the log: not this
			// file's log (or a copy of the file without its log).
			o.Logger.Error("store: write-ahead log does not follow the file; ignored",
				"path", walPath(path), "applied", applied, "first", recs[0].LSN)
			last = recs[len(recs)-1].LSN
			return meta.Put(keyWALLSN, binary.BigEndian.AppendUint64(nil, last))
		}
		for _, r := range recs {
			if r.LSN > applied {
				if err := applyOps(tx, r.Ops, nil); err != nil {
					return err
				}
			}
		}
		last = recs[len(recs)-1].LSN
		return meta.Put(keyWALLSN, binary.BigEndian.AppendUint64(nil, last))
	})
	if err != nil {
		return 0, err
	}
	return last, nil
}
