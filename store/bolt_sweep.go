package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/heraldmq/herald/topic"
	"go.etcd.io/bbolt"
)

// Delete implements Store. It commits (and syncs, unless NoSync) before it
// returns.
func (b *Bolt) Delete(ctx context.Context, channel string, ids ...ID) (int, error) {
	if err := topic.ValidateChannel(channel); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if err := b.flush(); err != nil {
		return 0, err
	}
	// The history messages to remove, from the index (wmu: no lock needed).
	var ents []ient
	if len(ids) == 0 {
		if c := b.ix.chans[channel]; c != nil {
			ents = slices.Clone(c.ents)
		}
	} else {
		for _, id := range ids {
			if e, ok := b.ix.find(channel, id); ok {
				ents = append(ents, e)
			}
		}
	}
	n := 0
	var removed []ID
	err := b.update(func(tx *bbolt.Tx) error {
		n, removed = 0, removed[:0]
		lb, ret := tx.Bucket(bucketLog), tx.Bucket(bucketRetained)
		key := make([]byte, 0, 16+len(channel))
		for _, e := range ents {
			sb := lb.Bucket(slotKey(logSlot(e.expires)))
			if sb == nil {
				continue
			}
			key = append(append(key[:0], e.id[:]...), channel...)
			if sb.Get(key) == nil {
				continue // listed twice in ids
			}
			if err := sb.Delete(key); err != nil {
				return err
			}
			n++
			removed = append(removed, e.id)
		}
		cur := ret.Get([]byte(channel))
		if cur == nil {
			return nil
		}
		if len(ids) > 0 && (len(cur) < 17 || !slices.ContainsFunc(ids, func(id ID) bool { return bytes.Equal(cur[1:17], id[:]) })) {
			return nil
		}
		n++
		return ret.Delete([]byte(channel))
	})
	if err != nil {
		return 0, err
	}
	if len(removed) > 0 {
		b.ix.mu.Lock()
		if len(ids) == 0 {
			b.ix.removeChannel(channel)
		} else {
			for _, id := range removed {
				b.ix.remove(channel, id)
			}
		}
		b.ix.mu.Unlock()
	}
	return n, nil
}

// Sweep removes every message expired at the time of the call and returns
// how many it removed. History is kept in expiry slots of about one second:
// a slot is removed as a whole (one bbolt DeleteBucket) once all of it has
// expired (an expired message is never returned anyway). One transaction
// removes whole slots up to about Options.SweepBatch messages, at least one
// slot. The background sweeper calls Sweep every Options.SweepInterval.
func (b *Bolt) Sweep(ctx context.Context) (int, error) {
	now := b.opts.Clock().UnixNano()
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more, err := b.sweepOnce(now)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// sweepOnce runs one sweep transaction.
func (b *Bolt) sweepOnce(now int64) (removed int, more bool, err error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if err := b.flush(); err != nil {
		return 0, false, err
	}
	var drop []uint64
	err = b.update(func(tx *bbolt.Tx) error {
		removed, more, drop = 0, false, drop[:0]
		lb := tx.Bucket(bucketLog)
		budget := b.opts.SweepBatch
		c := lb.Cursor()
		for name, v := c.First(); name != nil; name, v = c.Next() {
			if v != nil || len(name) != 8 {
				continue // not a slot: skipped by load too
			}
			s := binary.BigEndian.Uint64(name)
			if s == slotNever || (s+1)<<slotShift > uint64(now) {
				break // this slot has not fully expired yet, nor have those after it
			}
			n := b.ix.slots[s]
			if len(drop) > 0 && n > budget {
				more = true
				break
			}
			budget = max(budget-n, 0)
			drop = append(drop, s)
		}
		for _, s := range drop {
			if err := lb.DeleteBucket(slotKey(s)); err != nil {
				return err
			}
		}
		n, rmore, err := sweepRetained(tx, now, max(budget, 1))
		removed += n
		more = more || rmore
		return err
	})
	if err != nil || len(drop) == 0 {
		return removed, more, err
	}
	b.ix.mu.Lock()
	removed += b.ix.trim(drop[len(drop)-1])
	b.ix.mu.Unlock()
	return removed, more, nil
}

// sweepRetained removes up to budget expired retained messages, found in the
// expiry index of retained messages.
func sweepRetained(tx *bbolt.Tx, now int64, budget int) (removed int, more bool, err error) {
	x, ret := tx.Bucket(bucketExpiry), tx.Bucket(bucketRetained)
	mc := x.Cursor()
	var drop [][]byte
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
			if len(k) < 17 || len(v) != 9 || v[0] != kindRet {
				continue // not ours, or format 1's history; the slot is dropped anyway
			}
			ch := k[:len(k)-17]
			if cur := ret.Get(ch); len(cur) >= 25 && bytes.Equal(cur[1:17], k[len(k)-16:]) &&
				bytes.Equal(cur[17:25], v[1:9]) {
				if err := ret.Delete(ch); err != nil {
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
