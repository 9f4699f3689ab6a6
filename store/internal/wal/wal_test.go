package wal

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// rec returns a sealed record with one put and one delete of channel ch.
func rec(lsn uint64, ch string) *Rec {
	var r Rec
	r.Reset()
	key := append(make([]byte, 16), ch...)
	r.Add(Put, 7, key, []byte("value"), ch)
	r.Add(Del, 3, key, nil, ch)
	r.Seal(lsn)
	return &r
}

func TestRead(t *testing.T) {
	one, two := rec(1, "a/").Buf, rec(2, "b/").Buf
	gap := rec(3, "c/").Buf
	bad := bytes.Clone(two)
	bad[len(bad)-1] ^= 1
	for _, c := range []struct {
		name string
		data []byte
		lsns []uint64
	}{
		{"two", cat(one, two), []uint64{1, 2}},
		{"zeros after", cat(one, two, make([]byte, 64)), []uint64{1, 2}},
		{"torn", cat(one, two[:len(two)-1]), []uint64{1}},
		{"checksum", cat(one, bad), []uint64{1}},
		{"lsn gap", cat(one, gap), []uint64{1}},
		{"short", one[:HeaderSize-1], nil},
	} {
		recs, err := Read(c.data, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var lsns []uint64
		for _, r := range recs {
			lsns = append(lsns, r.LSN)
			if len(r.Ops) != 2 || r.Ops[0].Kind != Put || string(r.Ops[0].Val) != "value" || r.Ops[1].Kind != Del {
				t.Fatalf("%s: record %d ops %+v", c.name, r.LSN, r.Ops)
			}
		}
		if !slices.Equal(lsns, c.lsns) {
			t.Fatalf("%s: records %v, want %v", c.name, lsns, c.lsns)
		}
	}
	// A record whose ops fail the check: the records before it and an error.
	recs, err := Read(cat(one, two), func(op *Op) error {
		if op.Ch == "b/" {
			return errors.New("not ours")
		}
		return nil
	})
	if len(recs) != 1 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("failed check: %d records, %v", len(recs), err)
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	const wrap = 256
	w, err := Open(path, 10, wrap, true)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		err := w.Write(rec(0, "a/"))
		if errors.Is(err, ErrWrap) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if w.LSN() != uint64(10+n) || n == 0 || w.Pos() > wrap {
		t.Fatalf("%d records, last %d, at %d", n, w.LSN(), w.Pos())
	}
	recs, err := ReadFile(path, nil)
	if err != nil || len(recs) != n || recs[0].LSN != 11 {
		t.Fatalf("ReadFile: %d records, %v", len(recs), err)
	}
	// After Rewind the next record goes at the start; the older ones after
	// it no longer follow and are not read.
	w.Rewind()
	if err := w.Write(rec(0, "b/")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err = ReadFile(path, nil)
	if err != nil || len(recs) != 1 || recs[0].LSN != uint64(11+n) || recs[0].Ops[0].Ch != "b/" {
		t.Fatalf("after Rewind: %d records, %v", len(recs), err)
	}
	if recs, err := ReadFile(path+"-missing", nil); recs != nil || err != nil {
		t.Fatalf("missing file: %v, %v", recs, err)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
