package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/heraldmq/herald/topic"
	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Query implements Store. It selects the messages in the index, copies the
// payloads it has in its cache and reads the others in one read transaction.
func (b *Bolt) Query(ctx context.Context, q Query) ([]Message, error) {
	for attempt := 0; ; attempt++ {
		p, err := b.opts.plan(q)
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if b.closed.Load() {
			return nil, ErrClosed
		}
		if p.empty {
			return nil, nil
		}
		col := newCollector(&p)
		b.ix.mu.RLock()
		b.ix.collect(&p, col)
		sel := col.selected()
		var (
			out  []Message
			todo []int
		)
		if len(sel) > 0 {
			out, todo = b.ix.fromCache(sel)
		}
		b.ix.mu.RUnlock()
		col.release()
		if len(todo) == 0 {
			return out, nil
		}
		// A message selected in the index can be missing from the file
		// when a Delete, a replacement or a sweep committed in between: the
		// query starts again, and after a few attempts skips what is
		// missing.
		missing, err := b.read(out, todo, attempt >= 2)
		if err != nil {
			return nil, err
		}
		if !missing {
			return out, nil
		}
		if attempt >= 2 {
			return slices.DeleteFunc(out, func(m Message) bool { return m.Channel == "" }), nil
		}
	}
}

// read fills the payloads of out[i] for i in todo from the log. Unless
// lenient, it stops and reports missing at the first message it does not
// find; if lenient, it clears the Channel of those it does not find.
func (b *Bolt) read(out []Message, todo []int, lenient bool) (missing bool, err error) {
	if todo = b.readPending(out, todo); len(todo) == 0 {
		return false, nil
	}
	tx, err := b.db.Begin(false)
	if err != nil {
		if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
			err = ErrClosed
		}
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	lb := tx.Bucket(bucketLog)
	var (
		kbuf [80]byte
		slot uint64
		c    *bbolt.Cursor // of the current slot; one Seek per message
		sk   [8]byte
	)
	for j, i := range todo {
		m := &out[i]
		if s := logSlot(m.Expires); j == 0 || s != slot {
			slot, c = s, nil
			binary.BigEndian.PutUint64(sk[:], s)
			if sb := lb.Bucket(sk[:]); sb != nil {
				c = sb.Cursor()
			}
		}
		var v []byte
		if c != nil {
			key := append(append(kbuf[:0], m.ID[:]...), m.Channel...)
			if k, val := c.Seek(key); bytes.Equal(k, key) {
				v = val
			}
		}
		if v == nil {
			if !lenient {
				return true, nil
			}
			missing = true
			m.Channel = ""
			continue
		}
		if len(v) < 9 || v[0] != valVersion {
			return false, fmt.Errorf("%w: message value of %s %s", ErrCorrupt, m.Channel, m.ID)
		}
		fillPayload(m, v)
	}
	return missing, nil
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
func (b *Bolt) Retained(ctx context.Context, filter string, mode topic.Mode, fn func(Message) error) error {
	if err := topic.ValidateFilter(filter); err != nil {
		return err
	}
	prefix, _ := topic.LiteralPrefix(filter)
	from := []byte(prefix)
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var chunk []Message
		more := false
		now := b.opts.Clock().UnixNano()
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
				if !topic.Match(filter, bytesString(k), mode) {
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
