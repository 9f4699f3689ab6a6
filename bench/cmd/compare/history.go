package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/snappy"
	"go.etcd.io/bbolt"

	"github.com/heraldmq/herald/store"
)

// histMsg is one message to store.
type histMsg struct {
	id      store.ID
	channel levels
	payload []byte
	ttl     time.Duration
}

// historian is a message store under test. store may be called
// concurrently.
type historian interface {
	store(ctx context.Context, m *histMsg) error
	// flush makes everything stored so far durable as the implementation
	// promises (a no-op except for the batching floor).
	flush() error
	// preload stores msgs as fast as the implementation allows (not timed).
	preload(msgs []histMsg) error
	// last returns the number of messages of the n newest matching filter.
	last(ctx context.Context, filter levels, n int) (int, error)
	close() error
}

type histImpl struct {
	impl
	noWildcard string // why wildcard queries are not possible
	open       func(dir string) (historian, error)
}

var histImpls = []histImpl{
	{impl: impl{name: "herald-bolt", note: "store.OpenBolt: durable (write-ahead log: one fdatasync per group commit)"},
		open: func(dir string) (historian, error) { return openHeraldBolt(dir, false) }},
	{impl: impl{name: "herald-bolt-nosync", note: "store.OpenBolt with NoSync"},
		open: func(dir string) (historian, error) { return openHeraldBolt(dir, true) }},
	{impl: impl{name: "herald-memory", note: "store.NewMemory"},
		open: func(string) (historian, error) { return heraldStore{store.NewMemory(store.Options{})}, nil }},
	{impl: impl{name: "bbolt-1000", ref: "herald-bolt", note: "floor: raw bbolt, synced, 1,000 messages per transaction, key channel+ID"},
		noWildcard: "floor: exact channel only", open: openRawBolt},
	{impl: impl{name: "badger", ref: "herald-bolt-nosync", note: "Badger v4 as Emitter's ssd store: one unsynced Update per message, TTL as entry expiry, key = prefix + reversed time + SSID, snappy value, prefix scan for last"},
		open: func(dir string) (historian, error) { return openBadger(dir, false) }},
	{impl: impl{name: "badger-mem", ref: "herald-memory", note: "Badger v4 InMemory as Emitter's default in-memory store, same code"},
		open: func(dir string) (historian, error) { return openBadger(dir, true) }},
}

// Herald's store.

type heraldStore struct{ s store.Store }

func openHeraldBolt(dir string, noSync bool) (historian, error) {
	b, err := store.OpenBolt(filepath.Join(dir, "herald.db"), store.Options{NoSync: noSync})
	if err != nil {
		return nil, err
	}
	return heraldStore{b}, nil
}

func (h heraldStore) store(ctx context.Context, m *histMsg) error {
	exp, err := store.ExpiresAfter(m.id, m.ttl)
	if err != nil {
		return err
	}
	return h.s.Store(ctx, store.Message{ID: m.id, Channel: m.channel.herald(), Payload: m.payload, Expires: exp})
}

func (h heraldStore) flush() error { return nil }

func (h heraldStore) preload(msgs []histMsg) error {
	batch := make([]store.Message, 0, 1000)
	for i := range msgs {
		m := &msgs[i]
		exp, _ := store.ExpiresAfter(m.id, m.ttl)
		batch = append(batch, store.Message{ID: m.id, Channel: m.channel.herald(), Payload: m.payload, Expires: exp})
		if len(batch) == cap(batch) || i == len(msgs)-1 {
			if err := h.s.Store(context.Background(), batch...); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

func (h heraldStore) last(ctx context.Context, filter levels, n int) (int, error) {
	ms, err := h.s.Query(ctx, store.Query{Filter: filter.herald(), Last: n})
	return len(ms), err
}

func (h heraldStore) close() error { return h.s.Close() }

// rawBolt is the floor: bbolt used directly, 1,000 messages per synced
// transaction, no expiry index.
type rawBolt struct {
	db      *bbolt.DB
	mu      sync.Mutex
	pending [][2][]byte
}

var rawBucket = []byte("m")

func openRawBolt(dir string) (historian, error) {
	db, err := bbolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bbolt.Options{FreelistType: bbolt.FreelistMapType, InitialMmapSize: 1 << 30})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucketIfNotExists(rawBucket); return err })
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &rawBolt{db: db}, nil
}

func rawKey(ch string, id store.ID) []byte {
	k := make([]byte, 0, len(ch)+17)
	k = append(k, ch...)
	k = append(k, 0)
	return append(k, id[:]...)
}

func rawVal(m *histMsg) []byte {
	v := make([]byte, 8, 8+len(m.payload))
	exp, _ := store.ExpiresAfter(m.id, m.ttl)
	binary.BigEndian.PutUint64(v, uint64(exp))
	return append(v, m.payload...)
}

func (r *rawBolt) store(_ context.Context, m *histMsg) error {
	kv := [2][]byte{rawKey(m.channel.herald(), m.id), rawVal(m)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, kv)
	if len(r.pending) < 1000 {
		return nil
	}
	return r.commitLocked()
}

func (r *rawBolt) commitLocked() error {
	if len(r.pending) == 0 {
		return nil
	}
	err := r.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(rawBucket)
		for _, kv := range r.pending {
			if err := b.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	r.pending = r.pending[:0]
	return err
}

func (r *rawBolt) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commitLocked()
}

func (r *rawBolt) preload(msgs []histMsg) error {
	for i := range msgs {
		if err := r.store(context.Background(), &msgs[i]); err != nil {
			return err
		}
	}
	return r.flush()
}

func (r *rawBolt) last(_ context.Context, filter levels, n int) (int, error) {
	for _, lv := range filter {
		if lv == "+" || lv == "#" {
			return 0, errors.New("raw bbolt: exact channels only")
		}
	}
	prefix := append([]byte(filter.herald()), 0)
	end := append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 17)...)
	now := uint64(time.Now().UnixNano())
	found := 0
	err := r.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(rawBucket).Cursor()
		var v []byte
		k, _ := c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var out [][]byte
		for ; k != nil && bytes.HasPrefix(k, prefix) && found < n; k, v = c.Prev() {
			if exp := binary.BigEndian.Uint64(v); exp != 0 && exp <= now {
				continue
			}
			out = append(out, bytes.Clone(v[8:])) // values live only in the transaction
			found++
		}
		runtime.KeepAlive(out) // copied as a store's query must, then dropped
		return nil
	})
	return found, err
}

func (r *rawBolt) close() error { return r.db.Close() }

// emitterBadger stores messages the way Emitter's ssd / in-memory storage
// uses Badger (written from its documented design, not from its code):
//
//   - key: 4 bytes ssid[0]^ssid[1] (the partition prefix), 4 bytes
//     MaxUint32 − seconds since 2018-01-01 (newest first), 4 bytes
//     MaxUint32 − a process-wide counter, 4 bytes random per process, then
//     every SSID element (4 bytes each);
//   - value: snappy(uvarint-prefixed ID, channel, payload, uvarint TTL);
//   - one db.Update per message, TTL through the entry's ExpiresAt;
//   - "last": seek to prefix + reversed now, iterate forward while the
//     prefix holds, keep keys whose SSID matches, up to n.
//
// The SSID is [contract, h(level1), h(level2), ...]; the contract is fixed.
type emitterBadger struct {
	db     *badger.DB
	seq    atomic.Uint32
	unique uint32
}

const emitterEpoch = 1514764800 // 2018-01-01, Emitter's time origin

func openBadger(dir string, inMemory bool) (historian, error) {
	opts := badger.DefaultOptions(dir).WithSyncWrites(false).WithLogger(nil)
	if inMemory {
		opts = badger.DefaultOptions("").WithInMemory(true).WithSyncWrites(true).WithLogger(nil)
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, err
	}
	return &emitterBadger{db: db, unique: 0x5eed1234}, nil
}

const contract = 1

func ssid(l levels) []uint32 {
	s := make([]uint32, 0, len(l)+1)
	s = append(s, contract)
	for _, lv := range l {
		switch lv {
		case "+", "#":
			s = append(s, 0) // wildcard element; matches anything
		default:
			s = append(s, uint32(xxhash.Sum64String(lv)))
		}
	}
	return s
}

// isWild reports which SSID elements are wildcards.
func isWild(l levels) []bool {
	w := make([]bool, len(l)+1)
	for i, lv := range l {
		w[i+1] = lv == "+" || lv == "#"
	}
	return w
}

func (e *emitterBadger) key(s []uint32, t time.Time) []byte {
	k := make([]byte, 16+4*len(s))
	binary.BigEndian.PutUint32(k[0:], s[0]^s[1])
	binary.BigEndian.PutUint32(k[4:], math.MaxUint32-uint32(t.Unix()-emitterEpoch))
	binary.BigEndian.PutUint32(k[8:], math.MaxUint32-e.seq.Add(1))
	binary.BigEndian.PutUint32(k[12:], e.unique)
	for i, x := range s {
		binary.BigEndian.PutUint32(k[16+4*i:], x)
	}
	return k
}

func encodeValue(id []byte, ch string, payload []byte, ttl time.Duration) []byte {
	b := make([]byte, 0, len(id)+len(ch)+len(payload)+4*binary.MaxVarintLen64)
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(ch)))
	b = append(b, ch...)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	b = append(b, payload...)
	b = binary.AppendUvarint(b, uint64(ttl/time.Second))
	return snappy.Encode(nil, b)
}

func (e *emitterBadger) entry(m *histMsg) *badger.Entry {
	k := e.key(ssid(m.channel), m.id.Time())
	v := encodeValue(k, m.channel.herald(), m.payload, m.ttl)
	return badger.NewEntry(k, v).WithTTL(m.ttl)
}

func (e *emitterBadger) store(_ context.Context, m *histMsg) error {
	return e.db.Update(func(txn *badger.Txn) error { return txn.SetEntry(e.entry(m)) })
}

func (e *emitterBadger) flush() error { return nil }

func (e *emitterBadger) preload(msgs []histMsg) error {
	wb := e.db.NewWriteBatch()
	for i := range msgs {
		if err := wb.SetEntry(e.entry(&msgs[i])); err != nil {
			wb.Cancel()
			return err
		}
	}
	return wb.Flush()
}

func (e *emitterBadger) last(_ context.Context, filter levels, n int) (int, error) {
	q := ssid(filter)
	wild := isWild(filter)
	if wild[1] {
		return 0, errors.New("badger: the first level cannot be a wildcard (it selects the partition)")
	}
	prefix := make([]byte, 4)
	binary.BigEndian.PutUint32(prefix, q[0]^q[1])
	seek := binary.BigEndian.AppendUint32(bytes.Clone(prefix), math.MaxUint32-uint32(time.Now().Unix()-emitterEpoch))
	found := 0
	err := e.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		opts.PrefetchValues = false // most keys scanned belong to other channels
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(seek); it.ValidForPrefix(prefix) && found < n; it.Next() {
			k := it.Item().Key()
			if !ssidMatch(k[16:], q, wild) {
				continue
			}
			err := it.Item().Value(func(v []byte) error {
				_, err := snappy.Decode(nil, v)
				return err
			})
			if err != nil {
				return err
			}
			found++
		}
		return nil
	})
	return found, err
}

// ssidMatch reports whether the stored SSID (4 bytes per element) starts
// with the query's elements, wildcards matching anything (Emitter's prefix
// semantics for history).
func ssidMatch(stored []byte, q []uint32, wild []bool) bool {
	if len(stored) < 4*len(q) {
		return false
	}
	for i, x := range q {
		if !wild[i] && binary.BigEndian.Uint32(stored[4*i:]) != x {
			return false
		}
	}
	return true
}

func (e *emitterBadger) close() error { return e.db.Close() }

// Workload.

var histSeq atomic.Int64

// newHistMsg returns a message on channel hist/ch<i>/ with a fresh,
// increasing ID (time now, one nanosecond apart) and a one-hour TTL.
func newHistMsg(i int, payload []byte) histMsg {
	ns := time.Now().UnixNano() + histSeq.Add(1)
	return histMsg{
		id:      store.NewID(ns, 0xbe7c4),
		channel: levels{"hist", "ch" + strconv.Itoa(i)},
		payload: payload,
		ttl:     time.Hour,
	}
}

type histWrite struct {
	key, name string
	writers   int
	payload   int
}

type histQuery struct {
	key, name string
	filter    levels
	n         int
}

func runHistory(cfg config) *table {
	impls := make([]impl, len(histImpls))
	for i, hi := range histImpls {
		impls[i] = hi.impl
	}
	t := newTable("store", "Workload 3: stored publish and history queries", impls)
	t.notes = append(t.notes,
		"Messages go to 100 channels `hist/ch<i>/` with a one-hour TTL and time-ordered 16-byte IDs. Stored publish: each writer stores one message per call and waits for it (`Store` returns after commit; Badger `Update` returns after its write); the run ends when every call has returned (the batching floor commits its partial batch inside the timed run). Each round opens a fresh store in a new temporary directory.",
		fmt.Sprintf("Queries run on a store preloaded with %s messages (%s per channel, 64 B, plus as many on `solo/only/`), opened once; `last=N` asks for the N newest messages of one channel, or of `hist/+/` (all 100 channels). Herald answers through store.Query (which decodes and copies the messages it returns); the Badger reference decodes each matching value.", count(cfg.storeCount), count(cfg.storeCount/100)),
		"For context only (its own repository, another machine, one channel): Emitter's storage benchmark reported 34k msg/s for a single writer at batch 1, and 65k `last=1` / 3.5k `last=100` queries/s. In Emitter's key layout all channels under one first level share a partition and are interleaved by time, so `last=N` on one of 100 busy channels scans past the other 99; the `solo/only/` row is its best case.",
		"Ratios: `bbolt-1000` (durable floor) against `herald-bolt`, Emitter-style `badger` (unsynced) against `herald-bolt-nosync`, `badger-mem` against `herald-memory`. A durable store's numbers depend on the disk's fsync latency.")

	writes := []histWrite{
		{"write/1/64", "store, 1 writer, 64 B", 1, 64},
		{"write/1/1024", "store, 1 writer, 1 KiB", 1, 1024},
		{"write/8/64", "store, 8 writers, 64 B", 8, 64},
	}
	queries := []histQuery{
		{"query/1", "query last=1, one channel", levels{"hist", "ch42"}, 1},
		{"query/100", "query last=100, one channel", levels{"hist", "ch42"}, 100},
		{"query/wild100", "query last=100, `hist/+/` (100 channels)", levels{"hist", "+"}, 100},
		{"query/solo100", "query last=100, a channel alone under its first level", levels{"solo", "only"}, 100},
	}

	root, err := os.MkdirTemp("", "herald-compare-")
	if err != nil {
		progress("store: %v", err)
		return t
	}
	defer os.RemoveAll(root)

	// Open and preload the query stores.
	payload64 := bytes.Repeat([]byte("p"), 64)
	pre := make([]histMsg, cfg.storeCount)
	for i := range pre {
		pre[i] = newHistMsg(i%100, payload64)
	}
	for range cfg.storeCount / 100 { // as many as one hist channel has
		m := newHistMsg(0, payload64)
		m.channel = levels{"solo", "only"}
		pre = append(pre, m)
	}
	qstores := map[string]historian{}
	for _, hi := range histImpls {
		dir := filepath.Join(root, "query-"+hi.name)
		_ = os.MkdirAll(dir, 0o755)
		progress("store: preloading %s with %d messages", hi.name, len(pre))
		h, err := hi.open(dir)
		if err == nil {
			err = h.preload(pre)
			if err != nil {
				_ = h.close()
			}
		}
		if err != nil {
			for _, q := range queries {
				t.cell(q.key, q.name, unitQueries).fail[hi.name] = err.Error()
			}
			continue
		}
		qstores[hi.name] = h
		for _, q := range queries {
			got, err := h.last(context.Background(), q.filter, q.n)
			if err == nil && got != q.n && !(hi.noWildcard != "" && isWildFilter(q.filter)) {
				err = fmt.Errorf("last=%d on %s returned %d messages", q.n, q.filter.herald(), got)
			}
			if err != nil && !(hi.noWildcard != "" && isWildFilter(q.filter)) {
				t.cell(q.key, q.name, unitQueries).fail[hi.name] = err.Error()
			}
		}
	}
	defer func() {
		for _, h := range qstores {
			_ = h.close()
		}
	}()

	cal := newCalibrator(true)
	rates := map[string]float64{}
	for round := range cfg.rounds {
		for wi, w := range writes {
			c := t.cell(w.key, w.name, unitMsgs)
			for _, hi := range rotate(histImpls, round+wi) {
				if _, failed := c.fail[hi.name]; failed {
					continue
				}
				dir := filepath.Join(root, fmt.Sprintf("w-%s-%d-%d", hi.name, round, wi))
				v, allocs, err := measureWrites(cfg, hi, dir, w, rates)
				_ = os.RemoveAll(dir)
				if err != nil {
					c.fail[hi.name] = err.Error()
					progress("store: %s %s: %v", hi.name, w.name, err)
					continue
				}
				c.add(hi.name, v)
				c.addAllocs(hi.name, unitAllocs, allocs)
			}
			progress("store round %d/%d: %s: %s", round+1, cfg.rounds, c.name, summary(t, c))
		}
		for qi, q := range queries {
			c := t.cell(q.key, q.name, unitQueries)
			for _, hi := range rotate(histImpls, round+qi) {
				if hi.noWildcard != "" && isWildFilter(q.filter) {
					c.na[hi.name] = hi.noWildcard
					continue
				}
				h := qstores[hi.name]
				if _, failed := c.fail[hi.name]; failed || h == nil {
					continue
				}
				ctx := context.Background()
				var qerr error
				r := cal.ops(q.key+"/"+hi.name, cfg.runTime, loop(func(n int) {
					for range n {
						if _, err := h.last(ctx, q.filter, q.n); err != nil && qerr == nil {
							qerr = err
						}
					}
				}))
				if qerr != nil {
					c.fail[hi.name] = qerr.Error()
					continue
				}
				c.add(hi.name, 1e9/r.nsPerOp)
				c.addAllocs(hi.name, unitAllocs, r.allocsPerOp)
			}
			progress("store round %d/%d: %s: %s", round+1, cfg.rounds, c.name, summary(t, c))
		}
	}
	return t
}

func isWildFilter(l levels) bool {
	return strings.Contains(l.mqtt(), "+") || strings.Contains(l.mqtt(), "#")
}

// measureWrites opens a fresh store and measures stored publishes by
// w.writers goroutines. It returns messages per second and allocations per
// message.
func measureWrites(cfg config, hi histImpl, dir string, w histWrite, rates map[string]float64) (float64, float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	h, err := hi.open(dir)
	if err != nil {
		return 0, 0, err
	}
	defer h.close()
	payload := bytes.Repeat([]byte("w"), w.payload)
	run := func(n int) (span, error) {
		per := max(n/w.writers, 1)
		msgs := make([][]histMsg, w.writers)
		for i := range msgs {
			msgs[i] = make([]histMsg, per)
			for j := range msgs[i] {
				msgs[i][j] = newHistMsg((i*per+j)%100, payload)
			}
		}
		errs := make(chan error, w.writers)
		sp := timed(func() {
			for i := range w.writers {
				go func() {
					ctx := context.Background()
					for j := range msgs[i] {
						if err := h.store(ctx, &msgs[i][j]); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			for range w.writers {
				if e := <-errs; e != nil && err == nil {
					err = e
				}
			}
			if e := h.flush(); e != nil && err == nil {
				err = e
			}
		})
		return sp, err
	}
	key := w.key + "/" + hi.name
	rate, ok := rates[key]
	warm := 200
	if ok {
		warm = max(int(rate*cfg.runTime.Seconds()/10), w.writers)
	}
	sp, err := run(warm)
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		rate = float64(warm) / sp.d.Seconds()
	}
	n := max(int(rate*cfg.runTime.Seconds()), w.writers)
	n = n / w.writers * w.writers
	sp, err = run(n)
	if err != nil {
		return 0, 0, err
	}
	rates[key] = float64(n) / sp.d.Seconds()
	return float64(n) / sp.d.Seconds(), float64(sp.m.mallocs) / float64(n), nil
}
