package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/heraldmq/herald/store/internal/wal"
)

// Bolt is a durable Store in one bbolt (go.etcd.io/bbolt) file and its
// write-ahead log, the file named after it with "-wal" appended: keep the two
// together. After Close the bbolt file alone holds everything.
//
// History is kept in write order, in buckets of about one second of expiry
// time that expiry removes whole, with an index in memory of every channel's
// messages (about 40 bytes a message) and a cache of the newest payloads
// (Options.CacheBytes). Retained messages are kept by channel. OpenBolt
// rebuilds the index by reading the whole file, so opening takes time and
// memory in proportion to the history held (see BenchmarkOpen).
//
// Store returns nil only once the messages are written and synced, so an
// acknowledged message survives a process crash, an operating system crash
// and a power loss. Concurrent Store calls share one write and one fdatasync
// of the write-ahead log (group commit); a background applier moves logged
// messages into bbolt, and OpenBolt applies what a crash left in the log.
// Retained messages, Delete, bans and sweeps commit to bbolt directly
// (synced). With Options.NoSync nothing is synced: a process crash still
// loses nothing, but an operating system crash or power loss may lose
// acknowledged messages and corrupt the file.
//
// All methods are safe for concurrent use. Queries run in parallel with each
// other and with writes; a query sees every Store call that returned before
// it started, and may see messages whose Store has not returned yet. Writes
// (Store groups, Delete, sweep transactions) are serialised. If writing or
// syncing the log fails, the Store calls of that group return the error, the
// store may or may not hold their messages (as with any database whose
// commit fails), and it takes no more writes.
type Bolt struct {
	opts Options
	db   *bbolt.DB
	path string
	ix   *logIndex

	// wmu serialises the writers of the log and of the index (committer,
	// Delete, sweep); its holder may read the index without ix.mu.
	wmu  sync.Mutex
	hist []*entry // committer scratch

	// The write-ahead log: the committer writes it, the applier moves its
	// records into bbolt.
	wal     *wal.File
	pmu     sync.Mutex
	pending map[pkey][]byte // logged, not yet applied: value of each message
	amu     sync.Mutex      // guards the applier's fields below
	acond   *sync.Cond      // on amu: records to apply, or records applied
	arecs   []*wal.Rec      // logged, waiting for the applier
	abytes  int             // bytes in arecs
	afree   []*wal.Rec      // applied records, for reuse
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
	// would then have to wake it.
	ixReq  chan *wal.Rec
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

// The log (bucketLog) holds a bucket per expiry slot, keyed by message ID
// then channel: IDs grow with time, so a commit appends to the last pages of
// one or a few buckets instead of rewriting a page per channel, and expiry
// deletes whole buckets. Messages that never expire have a slot of their own
// (slotNever).
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

// OpenBolt opens (creating if needed) the bbolt file at path, applies what
// its write-ahead log holds that the file does not, reads the history into
// the index, fills the payload cache with the newest payloads and starts the
// committer and the sweeper. The file is
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
	var wf *wal.File
	if err == nil {
		wf, err = wal.Open(walPath(path), lsn, o.walWrap, !o.NoSync)
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
		if wf != nil {
			_ = wf.Close()
		}
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	b := &Bolt{opts: o, db: db, path: path, ix: ix, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.pool.New = func() any { return new(request) }
	b.group = newGroup()
	b.wal, b.pending, b.adone = wf, make(map[pkey][]byte), make(chan struct{})
	b.acond = sync.NewCond(&b.amu)
	b.registered, b.applied, b.want = lsn, lsn, lsn
	b.idle, b.allBack = make(chan struct{}, 1), make(chan struct{}, 1)
	if !o.NoSync {
		b.ixReq, b.ixDone = make(chan *wal.Rec), make(chan struct{}, 1)
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

// LoadBans returns the keys recorded as banned by AddBan, in byte order.
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

// AddBan records that key is banned. It returns once the change is committed
// (and synced, unless NoSync).
func (b *Bolt) AddBan(ctx context.Context, key string) error { return b.saveBan(ctx, key, true) }

// RemoveBan records that key is no longer banned. It returns once the change
// is committed (and synced, unless NoSync).
func (b *Bolt) RemoveBan(ctx context.Context, key string) error { return b.saveBan(ctx, key, false) }

func (b *Bolt) saveBan(ctx context.Context, key string, banned bool) error {
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
