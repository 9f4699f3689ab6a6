package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestRing checks the payload cache against a model that keeps every
// payload: get returns the exact bytes of every payload written within the
// last max bytes, and false for older ones.
func TestRing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ size, chunk int }{{0, 0}, {64, 0}, {1000, 0}, {1 << 16, 0}, {1<<16 + 7, 0}, {1000, 7}, {1 << 16, 1000}, {1<<16 + 7, 1 << 12}} {
		size := c.size
		r := ring{max: size, chunk: c.chunk}
		type rec struct {
			p    []byte
			cpos uint64
			end  uint64 // r.end after it was added
		}
		var recs []rec
		for i := range 3000 {
			p := make([]byte, rng.IntN(max(size/6, 1)+2))
			for j := range p {
				p[j] = byte(i + j)
			}
			cpos := r.add(p)
			recs = append(recs, rec{p, cpos, r.end})
		}
		if n := r.allocated(); size > 0 && n > size {
			t.Fatalf("max %d: buffer grew to %d", size, n)
		}
		hits := 0
		for _, x := range recs {
			dst := make([]byte, len(x.p))
			ok := r.get(dst, x.cpos)
			fresh := x.cpos != 0 && (len(x.p) == 0 || r.end-(x.cpos-1) <= uint64(size))
			if ok != fresh {
				t.Fatalf("max %d: payload of %d bytes at %d (end %d): get %v, want %v", size, len(x.p), x.cpos, r.end, ok, fresh)
			}
			if ok && !bytes.Equal(dst, x.p) {
				t.Fatalf("max %d: payload at %d corrupted", size, x.cpos)
			}
			if x.cpos == 0 && size > 0 && len(x.p) <= size/8 {
				t.Fatalf("max %d: a payload of %d bytes was not cached", size, len(x.p))
			}
			if ok {
				hits++
			}
		}
		if size >= 1<<16 && hits == 0 {
			t.Fatalf("max %d: nothing cached", size)
		}
	}
}

// slotsIn returns the slots of the log buckets in the file.
func slotsIn(t *testing.T, b *Bolt) []uint64 {
	t.Helper()
	var out []uint64
	err := b.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLog).ForEachBucket(func(k []byte) error {
			out = append(out, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBoltSweepDropsSlots: expiry removes whole log buckets (one per slot of
// about a second), in transactions bounded by SweepBatch, keeps the index in
// step and never touches live messages; the result survives a reopen.
func TestBoltSweepDropsSlots(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	opts := Options{SweepInterval: -1, SweepBatch: 25, NoSync: true, Clock: func() time.Time { return now }}
	path := filepath.Join(t.TempDir(), "h.db")
	b, err := OpenBolt(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	// 10 slots' worth of expiry times, 20 messages each over 3 channels, plus
	// messages that never expire.
	var msgs []Message
	expires := map[ID]int64{}
	for i := range 200 {
		id := NewID(t0.UnixNano()+int64(i), 1)
		exp := t0.Add(time.Duration(i/20+1) * (1 << slotShift)).UnixNano()
		msgs = append(msgs, Message{ID: id, Channel: fmt.Sprintf("s/%d/", i%3), Payload: []byte{byte(i)}, Expires: exp})
		expires[id] = exp
	}
	for i := range 5 {
		msgs = append(msgs, Message{ID: NewID(t0.UnixNano()+1000+int64(i), 1), Channel: "s/keep/", Payload: []byte("k")})
	}
	if err := b.Store(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := b.flush(); err != nil { // from the write-ahead log into bbolt
		t.Fatal(err)
	}
	if got := len(slotsIn(t, b)); got < 10 {
		t.Fatalf("%d log buckets, want one per expiry slot and one for no expiry", got)
	}
	// live counts what a query must return at time now.
	live := func() int {
		n := 0
		for _, m := range msgs {
			if !m.Expired(now.UnixNano()) {
				n++
			}
		}
		return n
	}
	swept := 0
	for step := range 26 {
		now = t0.Add(time.Duration(step) * (1 << slotShift) / 2)
		n, err := b.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		swept += n
		// Every bucket left is of a slot not fully expired at now.
		for _, s := range slotsIn(t, b) {
			if s != slotNever && (s+1)<<slotShift <= uint64(now.UnixNano()) {
				t.Fatalf("step %d: slot %d has expired but its bucket is still there", step, s)
			}
		}
		// The index holds exactly what the file holds.
		total := 0
		for _, s := range slotsIn(t, b) {
			total += b.ix.slots[s]
		}
		if total != b.ix.n || total+swept != len(msgs) {
			t.Fatalf("step %d: index %d messages (%d by slot), %d swept, %d stored", step, b.ix.n, total, swept, len(msgs))
		}
		got, err := b.Query(ctx, Query{Filter: "s/", Limit: 1000})
		if err != nil || len(got) != live() {
			t.Fatalf("step %d: %d messages, want %d (%v)", step, len(got), live(), err)
		}
	}
	if swept != 200 || !slices.Equal(slotsIn(t, b), []uint64{slotNever}) {
		t.Fatalf("swept %d, buckets left %v", swept, slotsIn(t, b))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBolt(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Query(ctx, Query{Filter: "s/"}); err != nil || len(got) != 5 {
		t.Fatalf("after reopen: %d messages, %v", len(got), err)
	}
}

// TestBoltReopen applies random operations to a Bolt store and to a Memory
// store (the reference), closes and reopens the Bolt file (its index is
// rebuilt from the log) and compares the answers, with the payload cache on,
// tiny and off.
func TestBoltReopen(t *testing.T) {
	for _, cache := range []int{0, 2048, -1} {
		t.Run(fmt.Sprint("cache=", cache), func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(cache+7), 3))
			now := time.Now()
			path := filepath.Join(t.TempDir(), "h.db")
			opts := Options{SweepInterval: -1, NoSync: true, CacheBytes: cache}
			b, err := OpenBolt(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			ref := NewMemory(Options{SweepInterval: -1})
			defer ref.Close()
			chans := []string{"a/", "a/b/", "a/c/", "b/", "b/x/y/", "c/"}
			var ids []ID
			for range 300 {
				switch op := rng.IntN(10); {
				case op < 8:
					var batch []Message
					for range 1 + rng.IntN(20) {
						m := Message{ID: NewID(now.UnixNano()-rng.Int64N(int64(time.Hour)), rng.Uint64N(2)),
							Channel: chans[rng.IntN(len(chans))], Payload: make([]byte, rng.IntN(700))}
						for i := range m.Payload {
							m.Payload[i] = byte(rng.IntN(256))
						}
						if rng.IntN(5) == 0 && len(ids) > 0 {
							m.ID = ids[rng.IntN(len(ids))] // a replacement, maybe in another slot
						}
						switch rng.IntN(3) {
						case 0:
							m.Expires = now.Add(time.Duration(rng.Int64N(int64(time.Hour)))).UnixNano()
						case 1:
							m.Expires = now.Add(time.Duration(rng.Int64N(int64(time.Hour)))).UnixNano() + int64(time.Hour)
						}
						ids = append(ids, m.ID)
						batch = append(batch, m)
					}
					if err := b.Store(ctx, batch...); err != nil {
						t.Fatal(err)
					}
					if err := ref.Store(ctx, batch...); err != nil {
						t.Fatal(err)
					}
				default:
					ch := chans[rng.IntN(len(chans))]
					var del []ID
					if rng.IntN(3) > 0 && len(ids) > 0 {
						for range 1 + rng.IntN(4) {
							del = append(del, ids[rng.IntN(len(ids))])
						}
					}
					n1, err1 := b.Delete(ctx, ch, del...)
					n2, err2 := ref.Delete(ctx, ch, del...)
					if err1 != nil || err2 != nil || n1 != n2 {
						t.Fatalf("Delete(%q, %d ids) = %d, %v; reference %d, %v", ch, len(del), n1, err1, n2, err2)
					}
				}
			}
			compare := func(when string) {
				t.Helper()
				for _, f := range []string{"#/", "a/", "a/+/", "b/x/y/"} {
					for _, q := range []Query{{Filter: f, Limit: 1000, MaxBytes: 1 << 30}, {Filter: f, Last: 7}, {Filter: f, Last: 500}} {
						got, err := b.Query(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						want, _ := ref.Query(ctx, q)
						if len(got) != len(want) {
							t.Fatalf("%s: %+v: %d messages, reference %d", when, q, len(got), len(want))
						}
						for i := range got {
							g, w := got[i], want[i]
							if g.ID != w.ID || g.Channel != w.Channel || g.Expires != w.Expires || !bytes.Equal(g.Payload, w.Payload) {
								t.Fatalf("%s: %+v: message %d differs", when, q, i)
							}
						}
					}
				}
			}
			compare("before reopen")
			n := b.ix.n
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if b, err = OpenBolt(path, opts); err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.ix.n != n {
				t.Fatalf("index: %d messages before reopen, %d after", n, b.ix.n)
			}
			// OpenBolt warmed the cache: with the default size, everything fits.
			cached := 0
			for _, c := range b.ix.chans {
				for _, e := range c.ents {
					if e.cpos != 0 {
						cached++
					}
				}
			}
			if want := map[bool]int{true: n, false: 0}[cache == 0]; cache <= 0 && cached != want {
				t.Fatalf("%d of %d payloads cached after reopen, want %d", cached, n, want)
			}
			compare("after reopen")
		})
	}
}

// TestBoltMigrateV1 opens a file written in format 1 (history keyed by
// channel then ID, expiry index listing history messages too).
func TestBoltMigrateV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	type v1msg struct {
		ch      string
		id      ID
		expires int64
	}
	var old []v1msg
	for i := range 50 {
		m := v1msg{ch: fmt.Sprintf("v/%d/", i%4), id: NewID(now.UnixNano()-int64(i), 9)}
		if i%2 == 0 {
			m.expires = now.Add(-time.Hour).UnixNano() // expired: swept after the conversion
		}
		old = append(old, m)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		mb, _ := tx.CreateBucket(bucketMsgsV1)
		xb, _ := tx.CreateBucket(bucketExpiry)
		meta, _ := tx.CreateBucket(bucketMeta)
		if err := meta.Put(keyVersion, []byte{1}); err != nil {
			return err
		}
		for _, m := range old {
			key := append(append([]byte(m.ch), 0), m.id[:]...)
			val := binary.BigEndian.AppendUint64([]byte{valVersion}, uint64(m.expires))
			val = append(val, m.ch...)
			if err := mb.Put(key, val); err != nil {
				return err
			}
			if m.expires != 0 {
				sb, err := xb.CreateBucketIfNotExists(slotName(m.expires))
				if err != nil {
					return err
				}
				if err := sb.Put(key, append([]byte{kindHist}, val[1:9]...)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBolt(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.Query(ctx, Query{Filter: "v/"})
	if err != nil || len(got) != 25 {
		t.Fatalf("after conversion: %d messages, %v", len(got), err)
	}
	for _, m := range got {
		if string(m.Payload) != m.Channel {
			t.Fatalf("payload %q on %s", m.Payload, m.Channel)
		}
	}
	if n, err := b.Sweep(ctx); err != nil || n != 25 {
		t.Fatalf("Sweep removed %d, %v", n, err)
	}
	_ = b.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMsgsV1) != nil || !bytes.Equal(tx.Bucket(bucketMeta).Get(keyVersion), []byte{formatVersion}) {
			t.Fatal("format 1 left behind")
		}
		return nil
	})
}

// TestBans checks AddBan, RemoveBan and LoadBans of both stores, and that Bolt's bans
// survive a reopen.
func TestBans(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	b, err := OpenBolt(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMemory(Options{})
	defer m.Close()
	for _, s := range []interface {
		AddBan(context.Context, string) error
		RemoveBan(context.Context, string) error
		LoadBans(context.Context) ([]string, error)
	}{b, m} {
		for _, op := range []struct {
			key    string
			banned bool
		}{{"k2", true}, {"k1", true}, {"k3", true}, {"k3", false}, {"k9", false}, {"k1", true}} {
			save := s.RemoveBan
			if op.banned {
				save = s.AddBan
			}
			if err := save(ctx, op.key); err != nil {
				t.Fatal(err)
			}
		}
		if keys, err := s.LoadBans(ctx); err != nil || !slices.Equal(keys, []string{"k1", "k2"}) {
			t.Fatalf("%T: LoadBans = %v, %v", s, keys, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LoadBans(ctx); err != ErrClosed {
		t.Fatalf("LoadBans after Close: %v", err)
	}
	if b, err = OpenBolt(path, Options{SweepInterval: -1}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if keys, err := b.LoadBans(ctx); err != nil || !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Fatalf("after reopen: LoadBans = %v, %v", keys, err)
	}
}
