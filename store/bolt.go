package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Bolt is a durable Store in one bbolt (go.etcd.io/bbolt) file.
//
// # Layout
//
// History messages are kept in a log: bbolt buckets of about one second of
// expiry time each (a "slot"; messages that never expire have a slot of
// their own), keyed by message ID then channel. IDs grow with time, so a
// commit appends to the last pages of one or a few buckets instead of
// rewriting a page per channel, and expiry deletes whole buckets. An index in
// memory lists every channel's message IDs, expiry times and payload sizes
// (about 40 bytes a message); a query walks it and copies the payloads it
// returns once, from the payload cache (Options.CacheBytes, the newest
// payloads) or from the file. OpenBolt rebuilds the index by reading the
// whole log, then fills the cache with the newest payloads. Measured
// (BenchmarkOpen, 1M messages of 256 bytes over 1k channels, on a shared
// 2-core machine at load average 6-8): about 0.35 s for the index alone
// (a good part of it bbolt's own scan of the file to rebuild its free page
// list), 0.7-1.8 s with the cache warm-up, and 107 MB of heap once open
// (about 40 MB of index and the 64 MiB cache). Retained messages are in a
// bucket keyed by channel.
//
// # Durability
//
// By default Store returns nil only after the messages are written to disk
// and synced, so an acknowledged message survives a process crash, an
// operating system crash and a power loss. Concurrent Store calls are
// grouped: one committer goroutine writes everything queued at once, so many
// writers share each sync (group commit). History messages go first to a
// write-ahead log, the file named after the bbolt file with "-wal" appended
// (4 MiB, written with zeros when created, then reused in place; keep it
// with the bbolt file): one write and one fdatasync per group, where a bbolt
// commit syncs twice. A background applier moves logged messages into bbolt
// in large, normally synced, transactions (every 1 MiB of log, before a
// Delete, a sweep or a retained message, and on Close), and OpenBolt applies
// what a crash left in the log. While a group's sync runs, a second
// goroutine indexes its messages, so queries may see them a little before
// their Store calls return (and after a failed sync, whose Store calls return
// the error, the store may or may not hold them, as with any database whose
// commit fails; the store then takes no more writes). The applier's work
// waits while the committer prepares the next group and runs while the log
// syncs: on two cores it otherwise delayed the writers and split them into
// smaller groups. Before it takes the next group, the committer also waits
// until every writer it answered has been scheduled and has its answer, so
// that writers storing again at once share the next sync (a busy program
// whose answered writers wait long for a CPU delays the next group as long).
// After Close the bbolt file alone holds everything.
// Retained messages, Delete, SaveBan and the sweeper commit to bbolt directly
// (synced).
//
// With Options.NoSync nothing is synced (the log is written, not synced): a
// process crash still loses nothing (the kernel has the writes), but an
// operating system crash or power loss may lose acknowledged messages and
// corrupt the file.
//
// # Concurrency
//
// All methods are safe for concurrent use. Queries run in parallel with each
// other and with writes: a query sees every Store call that returned before
// it started (and may see messages whose Store has not returned yet).
// Writes (Store batches, Delete, sweep transactions) are serialised; a sweep
// transaction removes whole expiry slots, up to about Options.SweepBatch
// messages (always at least one slot).
type Bolt struct {
	opts Options
	db   *bbolt.DB
	path string
	ix   *logIndex

	// wmu serialises the writers of the log and of the index (committer,
	// Delete, sweep); its holder may read the index without ix.mu.
	wmu  sync.Mutex
	hist []*entry // committer scratch

	// The write-ahead log (see wal.go). The committer writes it; the
	// applier moves its records into bbolt.
	wal     *walFile
	pmu     sync.Mutex
	pending map[pkey][]byte // logged, not yet applied: value of each message
	amu     sync.Mutex      // guards the applier's fields below
	acond   *sync.Cond      // on amu: records to apply, or records applied
	arecs   []*walRec       // logged, waiting for the applier
	abytes  int             // bytes in arecs
	afree   []*walRec       // applied records, for reuse
	// registered is the last record handed to the applier, applied the
	// last one it applied, want the one somebody waits for.
	registered, applied, want uint64
	astop                     bool
	aerr                      error // sticky: the log or the applier failed
	adone                     chan struct{}
	busy                      atomic.Bool   // the committer is busy: see setBusy
	idle                      chan struct{} // a token when busy turns false

	// The indexer of a durable store (see indexLoop). ixDone holds a
	// token per indexed record; it is buffered so that the indexer, done
	// long before the sync, does not wait for the committer, whose receive
	// would then have to wake it (measured: 12.9 µs median after each sync,
	// 0.15 µs buffered).
	ixReq  chan *walRec
	ixDone chan struct{}

	mu       sync.Mutex
	queue    []*request
	group    *group        // the answer of the requests in queue
	answered atomic.Int64  // answered requests whose callers do not have the answer yet
	allBack  chan struct{} // a token when answered drops to 0
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
	bucketLog      = []byte("l") // slot(8) -> bucket: ID(16) channel -> valVersion expires(8) payload
	bucketRetained = []byte("r") // channel -> valVersion ID(16) expires(8) payload
	bucketExpiry   = []byte("x") // slot(8) -> bucket: channel 0x00 ID -> kindRet expires(8)
	bucketBans     = []byte("bans")
	bucketMeta     = []byte("meta")
	keyVersion     = []byte("version")
	keyWALLSN      = []byte("wal") // the last record of the log applied (8 bytes)
	// bucketMsgsV1 is format 1's history (channel 0x00 ID -> valVersion
	// expires(8) payload); OpenBolt moves it to the log.
	bucketMsgsV1 = []byte("m")
)

const (
	formatVersion = 2
	valVersion    = 1
	// slotShift sets the width of an expiry slot: 2^30 ns, about 1.07 s.
	slotShift = 30
	kindHist  = 0 // format 1 only
	kindRet   = 1
)

// slotKey returns the bucket name of a slot.
func slotKey(s uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), s) }

func slotName(expires int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(expires)>>slotShift)
}

// OpenBolt opens (creating if needed) the bbolt file at path, reads its log
// into the index and starts the committer and the sweeper. The file is
// locked: a second OpenBolt of the same path, from any process, fails after
// one second. A file of the previous format is converted. Records that
// cannot be decoded are skipped (and logged), not returned.
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
	ix := newLogIndex(o.CacheBytes)
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketLog, bucketRetained, bucketExpiry, bucketBans, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil:
		case len(v) == 1 && v[0] == 1:
			if err := migrateV1(tx, &o); err != nil {
				return err
			}
		case len(v) != 1 || v[0] != formatVersion:
			return fmt.Errorf("%w: unknown format version %v", ErrCorrupt, v)
		}
		return meta.Put(keyVersion, []byte{formatVersion})
	})
	var lsn uint64
	if err == nil {
		lsn, err = replayWAL(db, path, &o)
	}
	var wal *walFile
	if err == nil {
		wal, err = openWALFile(walPath(path), lsn, o.walWrap, !o.NoSync)
	}
	if err == nil {
		err = db.View(func(tx *bbolt.Tx) error {
			if bad := ix.load(tx); bad > 0 {
				o.Logger.Error("store: skipped undecodable history records", "path", path, "records", bad)
			}
			ix.warm(tx)
			return nil
		})
	}
	if err != nil {
		if wal != nil {
			_ = wal.close()
		}
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	b := &Bolt{opts: o, db: db, path: path, ix: ix, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.pool.New = func() any { return new(request) }
	b.group = newGroup()
	b.wal, b.pending, b.adone = wal, make(map[pkey][]byte), make(chan struct{})
	b.acond = sync.NewCond(&b.amu)
	b.registered, b.applied, b.want = lsn, lsn, lsn
	b.idle, b.allBack = make(chan struct{}, 1), make(chan struct{}, 1)
	if !o.NoSync {
		b.ixReq, b.ixDone = make(chan *walRec), make(chan struct{}, 1)
		go b.indexLoop()
	}
	go b.applyLoop()
	go b.commitLoop()
	b.sweeper = startSweeper(&b.opts, b.Sweep)
	return b, nil
}

// migrateV1 moves format 1's history (one bucket keyed by channel then ID)
// to the log. The expiry index of format 1 also lists history messages
// (kindHist); the sweeper ignores those entries.
func migrateV1(tx *bbolt.Tx, o *Options) error {
	old := tx.Bucket(bucketMsgsV1)
	if old == nil {
		return nil
	}
	lb := tx.Bucket(bucketLog)
	bad := 0
	c := old.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) < 18 || k[len(k)-17] != 0 || len(v) < 9 || v[0] != valVersion {
			bad++
			continue
		}
		ch := k[:len(k)-17]
		key := make([]byte, 0, len(k)-1)
		key = append(append(key, k[len(k)-16:]...), ch...)
		sb, err := lb.CreateBucketIfNotExists(slotKey(logSlot(int64(binary.BigEndian.Uint64(v[1:9])))))
		if err != nil {
			return err
		}
		if err := sb.Put(key, bytes.Clone(v)); err != nil {
			return err
		}
	}
	if bad > 0 {
		o.Logger.Error("store: format 1 history records not converted", "records", bad)
	}
	return tx.DeleteBucket(bucketMsgsV1)
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
				if ValidateChannel(name) != nil {
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
// and closes done. One close wakes every writer of the batch (64 sends on
// 64 channels took the committer 15 µs a batch, measured).
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
// transaction, answers every request in it, and repeats.
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
	now := b.opts.Now().UnixNano()
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
	now := b.opts.Now().UnixNano()
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

// LoadBans returns the keys recorded as banned by SaveBan, in byte order.
// With the engine, a Bolt store given as the engine's store also keeps its
// key bans (Bolt implements the engine's BanStore), so they survive a
// restart.
func (b *Bolt) LoadBans(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var keys []string
	err := b.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketBans).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	return keys, err
}

// SaveBan records that key is banned (banned true) or no longer banned. It
// returns once the change is committed (and synced, unless NoSync).
func (b *Bolt) SaveBan(ctx context.Context, key string, banned bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.update(func(tx *bbolt.Tx) error {
		if banned {
			return tx.Bucket(bucketBans).Put([]byte(key), []byte{1})
		}
		return tx.Bucket(bucketBans).Delete([]byte(key))
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("store: save ban: %w", err)
	}
	return err
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
		if err := b.stopApplier(); err != nil {
			b.closeErr = fmt.Errorf("store: close: %w", err)
		}
		b.closed.Store(true)
		if err := b.db.Close(); err != nil && b.closeErr == nil {
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
