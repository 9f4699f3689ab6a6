package store

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/heraldmq/herald/topic"
	"go.etcd.io/bbolt"
)

// FuzzQuery feeds arbitrary queries to the planner and to a small store: the
// result is an error or a bounded, ordered answer, never a panic.
func FuzzQuery(f *testing.F) {
	f.Add("a/", 0, 1, 0, int64(0), int64(0), 0, false)
	f.Add("a/+/", 1, 0, 5, int64(5), int64(-3), 100, true)
	f.Add("#/", 3, 1<<40, 0, int64(1<<62), int64(1<<62), -1, false)
	f.Add("a/#/b/", -1, 0, 0, int64(0), int64(0), 0, true)
	st := NewMemory(Options{SweepInterval: -1})
	defer st.Close()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range 50 {
		ch := []string{"a/", "a/b/", "a/c/d/", "b/", "$s/a/"}[i%5]
		_ = st.Store(f.Context(), Message{ID: NewID(base+int64(i), 0), Channel: ch, Payload: make([]byte, i*100)})
	}
	f.Fuzz(func(t *testing.T, filter string, mode, last, limit int, from, until int64, maxBytes int, after bool) {
		q := Query{Filter: filter, Matching: topic.Mode(mode), Last: last, Limit: limit, MaxBytes: maxBytes}
		if from != 0 {
			q.From = time.Unix(0, base+from)
		}
		if until != 0 {
			q.Until = time.Unix(0, base+until)
		}
		if after {
			q.After = NewID(base+from, 0)
		}
		msgs, err := st.Query(t.Context(), q)
		if err != nil {
			return
		}
		if len(msgs) > DefaultMaxResults {
			t.Fatalf("%d results", len(msgs))
		}
		total := 0
		for i := range msgs {
			total += msgs[i].Size()
			if i > 0 && msgs[i-1].ID.Compare(msgs[i].ID) >= 0 {
				t.Fatal("results out of order")
			}
		}
		if len(msgs) > 1 && total > DefaultMaxResponseBytes {
			t.Fatalf("%d bytes", total)
		}
	})
}

// FuzzBoltRecords writes an arbitrary record into a Bolt file (into a log
// slot, the log bucket itself, the retained bucket or the retained expiry
// index), reopens it (so the index is rebuilt from the record) and runs every
// read and write path over it: corrupt records give ErrCorrupt or are
// skipped, never a panic.
func FuzzBoltRecords(f *testing.F) {
	never := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f.Add([]byte("0123456789abcdefa/"), []byte("\x01\x00\x00\x00\x00\x00\x00\x00\x00payload"), never, byte(0))
	f.Add([]byte("0123456789abcdefa/"), []byte("\x01\x00\x00\x00\x00\x00\x00\x00\x00payload"), []byte{0}, byte(0))
	f.Add([]byte("0123456789abcdef+/"), []byte("\x01\x00\x00\x00\x00\x00\x00\x00\x00"), never, byte(0))
	f.Add([]byte("0123456789abcdefa/"), []byte("\x01\x7f\x00\x00\x00\x00\x00\x00\x00"), never, byte(0))
	f.Add([]byte("a/"), []byte("\x01"), never, byte(1))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01"), []byte("x"), never, byte(2))
	f.Add([]byte("a/\x00"), []byte{}, never, byte(3))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, key, val, slot []byte, bucket byte) {
		if len(key) == 0 || len(key) > 1000 || len(slot) > 16 {
			return
		}
		n++
		path := fmt.Sprintf("%s/%d.db", dir, n)
		defer os.Remove(path)
		b, err := OpenBolt(path, Options{SweepInterval: -1, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		err = b.db.Update(func(tx *bbolt.Tx) error {
			switch bucket % 4 {
			case 0:
				sb, err := tx.Bucket(bucketLog).CreateBucketIfNotExists(slot)
				if err != nil {
					return err
				}
				return sb.Put(key, val)
			case 1:
				return tx.Bucket(bucketRetained).Put(key, val)
			case 2:
				sb, err := tx.Bucket(bucketExpiry).CreateBucketIfNotExists(key)
				if err != nil {
					return err
				}
				return sb.Put(val, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
			default:
				return tx.Bucket(bucketLog).Put(key, val)
			}
		})
		if cerr := b.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			return
		}
		b, err = OpenBolt(path, Options{SweepInterval: -1, NoSync: true})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer b.Close()
		ctx := t.Context()
		for _, f := range []string{"#/", "a/"} {
			_, _ = b.Query(ctx, Query{Filter: f})
			_, _ = b.Query(ctx, Query{Filter: f, Last: 3})
			_ = b.Retained(ctx, f, topic.Emitter, func(Message) error { return nil })
		}
		_, _ = b.Sweep(ctx)
		if err := b.Store(ctx, Message{ID: NewID(1, 1), Channel: "a/", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Delete(ctx, "a/"); err != nil {
			t.Fatal(err)
		}
	})
}
