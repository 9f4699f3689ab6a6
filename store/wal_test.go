package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/heraldmq/herald/store/internal/wal"
	"github.com/heraldmq/herald/topic"
)

// walModel is what a store must hold: the last message stored under each
// (channel, ID).
type walModel struct {
	mu   sync.Mutex
	msgs map[pkey]Message
}

func (m *walModel) add(msgs ...Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range msgs {
		x.Payload = bytes.Clone(x.Payload)
		m.msgs[pkey{x.ID, x.Channel}] = x
	}
}

// check compares every channel's history in s with the model.
func (m *walModel) check(t *testing.T, s *Bolt) {
	t.Helper()
	byCh := map[string][]Message{}
	for _, x := range m.msgs {
		byCh[x.Channel] = append(byCh[x.Channel], x)
	}
	for ch, want := range byCh {
		slices.SortFunc(want, func(a, b Message) int { return a.ID.Compare(b.ID) })
		var got []Message
		for page := (Query{Filter: ch, Matching: topic.MQTT, Limit: 1000, MaxBytes: 1 << 30}); ; {
			res, err := s.Query(context.Background(), page)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, res...)
			if len(res) == 0 {
				break
			}
			page.After = res[len(res)-1].ID
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d", ch, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Expires != w.Expires || !bytes.Equal(g.Payload, w.Payload) {
				t.Fatalf("%s[%d]: got %s exp %d %q, want %s exp %d %q", ch, i, g.ID, g.Expires, g.Payload, w.ID, w.Expires, w.Payload)
			}
		}
	}
}

// logRecords counts the history records in the bbolt file of s.
func logRecords(t *testing.T, db *bbolt.DB) int {
	t.Helper()
	n := 0
	err := db.View(func(tx *bbolt.Tx) error {
		lb := tx.Bucket(bucketLog)
		return lb.ForEachBucket(func(k []byte) error {
			n += lb.Bucket(k).Stats().KeyN
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// reopen closes s (which must succeed) and opens path again with o; the
// store opened is closed when the test ends.
func reopen(t *testing.T, s *Bolt, path string, o Options) *Bolt {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenBolt(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// walMessages returns n random messages over a few channels, some of them
// replacing an earlier one (same channel and ID) with another expiry slot.
func walMessages(rng *rand.Rand, n int, now time.Time) []Message {
	var out []Message
	for i := range n {
		m := Message{
			ID:      NewID(now.UnixNano()+int64(i), 7),
			Channel: fmt.Sprintf("w/%d/", rng.IntN(7)),
			Payload: []byte(fmt.Sprintf("payload %d %s", i, bytes.Repeat([]byte{'x'}, rng.IntN(200)))),
		}
		if rng.IntN(3) > 0 {
			m.Expires = now.Add(time.Duration(1+rng.IntN(5)) * time.Hour).UnixNano()
		}
		if i > 0 && rng.IntN(10) == 0 {
			old := out[rng.IntN(len(out))]
			m.ID, m.Channel = old.ID, old.Channel
			m.Expires = now.Add(time.Duration(10+rng.IntN(5)) * time.Hour).UnixNano()
		}
		out = append(out, m)
	}
	return out
}

// TestWALReplay stores messages that stay in the write-ahead log (the
// applier has not run: nothing in the bbolt file), takes a copy of both
// files as a crash would leave them, and opens the copy: every message is
// there, replacements included, and a torn record after the last one is
// ignored.
func TestWALReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	for _, cache := range []int{0, -1} {
		t.Run(fmt.Sprint("cache=", cache), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("a%d.db", cache))
			o := Options{SweepInterval: -1, CacheBytes: cache}
			s, err := OpenBolt(path, o)
			if err != nil {
				t.Fatal(err)
			}
			model := &walModel{msgs: map[pkey]Message{}}
			rng := rand.New(rand.NewPCG(3, uint64(cache+5)))
			msgs := walMessages(rng, 600, now)
			for len(msgs) > 0 {
				n := min(1+rng.IntN(20), len(msgs))
				if err := s.Store(ctx, msgs[:n]...); err != nil {
					t.Fatal(err)
				}
				model.add(msgs[:n]...)
				msgs = msgs[n:]
			}
			if n := logRecords(t, s.db); n != 0 {
				t.Fatalf("%d records applied to bbolt; want them all in the log still", n)
			}
			model.check(t, s) // served from the cache or the pending values

			// The crash image, with a torn record after the last one.
			crash := filepath.Join(dir, fmt.Sprintf("crash%d.db", cache))
			copyFile(t, path, crash)
			copyFile(t, walPath(path), walPath(crash))
			f, err := os.OpenFile(walPath(crash), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			var torn wal.Rec
			torn.Reset()
			torn.Add(wal.Put, slotNever, append(make([]byte, 16), "w/0/"...), []byte{valVersion, 0, 0, 0, 0, 0, 0, 0, 0, 'z'}, "w/0/")
			torn.Seal(s.wal.LSN() + 1)
			if _, err := f.WriteAt(torn.Buf[:len(torn.Buf)-1], s.wal.Pos()); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			for range 2 { // the second open replays nothing
				c, err := OpenBolt(crash, o)
				if err != nil {
					t.Fatal(err)
				}
				if n := logRecords(t, c.db); n != len(model.msgs) {
					t.Fatalf("%d records in bbolt after replay, want %d", n, len(model.msgs))
				}
				model.check(t, c)
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
			}
			// The original, closed cleanly, applied everything on Close.
			c, err := OpenBolt(path, o)
			if err != nil {
				t.Fatal(err)
			}
			model.check(t, c)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWALWrap stores from several goroutines through a tiny log that wraps
// around and is applied often, with queries and deletes running meanwhile,
// and checks the store against the model while open and after reopening.
func TestWALWrap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	const wrap = 4096
	o := Options{SweepInterval: -1, CacheBytes: 2048, walWrap: wrap, walApply: 1024}
	s, err := OpenBolt(path, o)
	if err != nil {
		t.Fatal(err)
	}
	model := &walModel{msgs: map[pkey]Message{}}
	var wg sync.WaitGroup
	for g := range 4 {
		rng := rand.New(rand.NewPCG(9, uint64(g)))
		msgs := walMessages(rng, 300, time.Now().Add(time.Duration(g)*time.Minute))
		for i := range msgs {
			msgs[i].Channel = fmt.Sprintf("g%d/%s", g, msgs[i].Channel)
		}
		wg.Go(func() {
			for len(msgs) > 0 {
				n := min(1+rng.IntN(8), len(msgs))
				if err := s.Store(ctx, msgs[:n]...); err != nil {
					t.Error(err)
					return
				}
				model.add(msgs[:n]...)
				msgs = msgs[n:]
				if rng.IntN(20) == 0 {
					if _, err := s.Query(ctx, Query{Filter: fmt.Sprintf("g%d/", g), Last: 50}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Delete one channel: it goes through the applier first.
	n, err := s.Delete(ctx, "g0/w/1/")
	if err != nil {
		t.Fatal(err)
	}
	model.mu.Lock()
	removed := 0
	for k := range model.msgs {
		if k.ch == "g0/w/1/" {
			delete(model.msgs, k)
			removed++
		}
	}
	model.mu.Unlock()
	if n != removed {
		t.Fatalf("Delete removed %d, want %d", n, removed)
	}
	model.check(t, s)
	st, err := os.Stat(walPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if max := int64(wrap + 8*(wal.OpHeaderSize+16+20+9+250) + wal.HeaderSize); st.Size() > max {
		t.Fatalf("log of %d bytes, want at most %d", st.Size(), max)
	}
	if s.wal.LSN() < 40 {
		t.Fatalf("only %d records", s.wal.LSN())
	}
	s = reopen(t, s, path, o)
	model.check(t, s)
}

// TestWALNoSync checks that a NoSync store applies the log left by a
// durable store, and logs (without syncing) in the same file.
func TestWALNoSync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "n.db")
	s, err := OpenBolt(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	model := &walModel{msgs: map[pkey]Message{}}
	msgs := walMessages(rand.New(rand.NewPCG(1, 1)), 50, time.Now())
	if err := s.Store(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	model.add(msgs...)
	crash := filepath.Join(dir, "c.db")
	copyFile(t, path, crash)
	copyFile(t, walPath(path), walPath(crash))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := OpenBolt(crash, Options{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	model.check(t, c)
	more := walMessages(rand.New(rand.NewPCG(1, 2)), 50, time.Now().Add(time.Minute))
	if err := c.Store(ctx, more...); err != nil {
		t.Fatal(err)
	}
	model.add(more...)
	if c.wal.Durable() || c.wal.LSN() <= s.wal.LSN() {
		t.Fatalf("NoSync store: log sync %v, last record %d (durable store's %d)", c.wal.Durable(), c.wal.LSN(), s.wal.LSN())
	}
	again := filepath.Join(dir, "again.db")
	copyFile(t, crash, again)
	copyFile(t, walPath(crash), walPath(again))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := OpenBolt(again, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	model.check(t, d)
}

// FuzzWAL reads arbitrary bytes as a log, as OpenBolt does: no panic, and
// every record it returns decodes to ops whose keys and values lie within
// the record.
func FuzzWAL(f *testing.F) {
	var r wal.Rec
	r.Reset()
	id := NewID(1, 2)
	key := append(id[:], "a/b/"...)
	r.Add(wal.Put, slotNever, key, []byte{valVersion, 0, 0, 0, 0, 0, 0, 0, 0, 'p'}, "a/b/")
	r.Add(wal.Del, 5, key, nil, "a/b/")
	r.Seal(1)
	one := bytes.Clone(r.Buf)
	r.Seal(2)
	f.Add(append(bytes.Clone(one), r.Buf...))
	f.Add(one)
	f.Add(one[:len(one)-3])
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := wal.Read(data, checkWALOp)
		for i, rec := range recs {
			if i > 0 && rec.LSN != recs[i-1].LSN+1 {
				t.Fatalf("record %d: lsn %d after %d", i, rec.LSN, recs[i-1].LSN)
			}
			for _, op := range rec.Ops {
				if op.Kind != wal.Put && op.Kind != wal.Del {
					t.Fatalf("op kind %d", op.Kind)
				}
				if len(op.Key) <= 16 || string(op.Key[16:]) != op.Ch || [16]byte(op.Key[:16]) != op.ID {
					t.Fatalf("op key %q", op.Key)
				}
			}
		}
		// Records round-trip: rebuilding them gives the same bytes.
		for _, rec := range recs {
			var b wal.Rec
			b.Reset()
			for _, op := range rec.Ops {
				b.Add(op.Kind, op.Slot, op.Key, op.Val, op.Ch)
			}
			b.Seal(rec.LSN)
			if !bytes.Equal(b.Buf, rec.Buf) {
				t.Fatalf("record %d does not round-trip", rec.LSN)
			}
		}
	})
}

// countingHandler counts the records logged at level Error or above.
type countingHandler struct {
	slog.Handler
	errors *atomic.Int64
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.errors.Add(1)
	}
	return nil
}

// TestWALConcurrentReplace stores the same messages (channel and ID) from
// several goroutines at once with expiry times in different slots, so that
// a replacement meets the message it replaces while that one is still being
// synced: the file keeps one copy of each (reopening reports no duplicate),
// and a Delete removes them for good.
func TestWALConcurrentReplace(t *testing.T) {
	ctx := context.Background()
	var errs atomic.Int64
	logger := slog.New(countingHandler{slog.DiscardHandler, &errs})
	path := filepath.Join(t.TempDir(), "r.db")
	o := Options{SweepInterval: -1, Logger: logger, walApply: 4096}
	s, err := OpenBolt(path, o)
	if err != nil {
		t.Fatal(err)
	}
	base, now := time.Now().UnixNano(), time.Now()
	const ids = 300
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range ids {
				m := Message{ID: NewID(base+int64(i), 0), Channel: fmt.Sprintf("r/%d/", i%2),
					Payload: []byte{byte(g)}, Expires: now.Add(time.Duration(g+1) * time.Hour).UnixNano()}
				if err := s.Store(ctx, m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	count := func(s *Bolt, ch string) int {
		t.Helper()
		got, err := s.Query(ctx, Query{Filter: ch, Matching: topic.MQTT, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if n := count(s, "r/0/") + count(s, "r/1/"); n != ids {
		t.Fatalf("%d messages, want %d (one per ID)", n, ids)
	}
	if n, err := s.Delete(ctx, "r/0/"); err != nil || n != ids/2 {
		t.Fatalf("Delete = %d, %v; want %d", n, err, ids/2)
	}
	s = reopen(t, s, path, o)
	if n0, n1 := count(s, "r/0/"), count(s, "r/1/"); n0 != 0 || n1 != ids/2 {
		t.Fatalf("after reopening: %d deleted messages back, %d of %d others", n0, n1, ids/2)
	}
	if n := logRecords(t, s.db); n != ids/2 {
		t.Fatalf("%d records in the file, want %d", n, ids/2)
	}
	if errs.Load() != 0 {
		t.Fatalf("%d errors logged", errs.Load())
	}
}
