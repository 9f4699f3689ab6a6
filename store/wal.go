package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The write-ahead log of a durable Bolt store.
//
// bbolt syncs a file twice per commit (its pages, then its meta page), and a
// sync costs about 200 µs on a virtual disk whatever its size, so writers
// waiting for their own commits wait for two. Bolt instead appends each
// group of stored messages to the log, a second file next to the bbolt file,
// with one write and one fdatasync, and acknowledges them; a background
// applier moves the logged messages into bbolt in large transactions (normal
// bbolt commits, synced) and records in the same transaction the sequence
// number of the last record it applied. On open, the records after that
// number are applied again. Until a record is applied, queries read its
// payloads from memory.
//
// The log is reused in place: it grows to walWrapBytes, then the next record
// is written at its start once every record in it has been applied. Writing
// over blocks that exist is cheaper to sync than growing the file. A record
// is
//
//	length(4) crc32c(4) lsn(8) ops...
//	op: kind(1) slot(8) keylen(4) vallen(4) key val
//
// where crc32c covers lsn and ops, and sequence numbers (lsn) of consecutive
// records increase by one: reading stops at the first record that is torn,
// corrupt, or left from the previous pass over the file.

const (
	walHeader  = 16
	walOpFixed = 1 + 8 + 4 + 4
	walPut     = 1
	walDel     = 2
	// walWrapBytes is the size at which the log starts again at its
	// beginning.
	walWrapBytes = 4 << 20
	// walApplyBytes is how many logged bytes wait in memory before the
	// applier moves them into bbolt (sooner when something needs them there).
	walApplyBytes = walWrapBytes / 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walPath returns the path of the log of the bbolt file at path.
func walPath(path string) string { return path + "-wal" }

// walRec is one record: a group of stored messages.
type walRec struct {
	lsn uint64
	buf []byte  // the record as written
	ops []walOp // views into buf
}

// walOp is one change to the log buckets: put key=val into slot, or delete
// key from slot (a message replaced by one in another slot).
type walOp struct {
	kind     byte
	slot     uint64
	key, val []byte
	ch       string // put: the channel (key[16:])
	id       ID     // put: key[:16]
}

// reset empties r for a new record.
func (r *walRec) reset() {
	r.lsn = 0
	r.buf = append(r.buf[:0], make([]byte, walHeader)...)
	clear(r.ops)
	r.ops = r.ops[:0]
}

// add appends an op. The key and value are copied; ch must be key[16:] as a
// string that outlives r.
func (r *walRec) add(kind byte, slot uint64, key, val []byte, ch string) {
	r.buf = append(r.buf, kind)
	r.buf = binary.BigEndian.AppendUint64(r.buf, slot)
	r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(len(key)))
	r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(len(val)))
	r.buf = append(r.buf, key...)
	r.buf = append(r.buf, val...)
	// Views are set by seal: buf may still move as it grows.
	r.ops = append(r.ops, walOp{kind: kind, slot: slot, ch: ch, id: ID(key[:16])})
}

// seal writes the header of r with sequence number lsn and points the ops
// at their bytes in buf.
func (r *walRec) seal(lsn uint64) {
	r.lsn = lsn
	binary.BigEndian.PutUint32(r.buf[0:4], uint32(len(r.buf)))
	binary.BigEndian.PutUint64(r.buf[8:16], lsn)
	binary.BigEndian.PutUint32(r.buf[4:8], crc32.Checksum(r.buf[8:], crcTable))
	p := walHeader
	for i := range r.ops {
		kl := int(binary.BigEndian.Uint32(r.buf[p+9:]))
		vl := int(binary.BigEndian.Uint32(r.buf[p+13:]))
		p += walOpFixed
		r.ops[i].key = r.buf[p : p+kl : p+kl]
		r.ops[i].val = r.buf[p+kl : p+kl+vl : p+kl+vl]
		p += kl + vl
	}
}

// decodeWALOps decodes the ops of a record body (after the header). It
// checks every length and the layout of each value, so a record that passed
// its checksum but was not written by Bolt is reported, not applied.
func decodeWALOps(body []byte) ([]walOp, error) {
	var ops []walOp
	for p := 0; p < len(body); {
		if len(body)-p < walOpFixed {
			return nil, fmt.Errorf("%w: log op header at %d", ErrCorrupt, p)
		}
		op := walOp{kind: body[p], slot: binary.BigEndian.Uint64(body[p+1:])}
		kl := uint64(binary.BigEndian.Uint32(body[p+9:]))
		vl := uint64(binary.BigEndian.Uint32(body[p+13:]))
		p += walOpFixed
		if kl+vl > uint64(len(body)-p) {
			return nil, fmt.Errorf("%w: log op of %d+%d bytes at %d", ErrCorrupt, kl, vl, p)
		}
		op.key = body[p : p+int(kl) : p+int(kl)]
		op.val = body[p+int(kl) : p+int(kl+vl) : p+int(kl+vl)]
		p += int(kl + vl)
		if len(op.key) <= 16 || ValidateChannel(string(op.key[16:])) != nil {
			return nil, fmt.Errorf("%w: log op key %q", ErrCorrupt, op.key)
		}
		op.id, op.ch = ID(op.key[:16]), string(op.key[16:])
		switch op.kind {
		case walPut:
			if len(op.val) < 9 || op.val[0] != valVersion ||
				logSlot(int64(binary.BigEndian.Uint64(op.val[1:9]))) != op.slot {
				return nil, fmt.Errorf("%w: log op value of %s", ErrCorrupt, op.ch)
			}
		case walDel:
			if len(op.val) != 0 {
				return nil, fmt.Errorf("%w: log delete with a value", ErrCorrupt)
			}
		default:
			return nil, fmt.Errorf("%w: log op kind %d", ErrCorrupt, op.kind)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// readWAL reads the records of the log in data, in order, and returns them
// with the first one's problem, if reading stopped before the end of the
// data for another reason than the end of the records written in this pass
// (a zero length, or a sequence number that does not follow).
func readWAL(data []byte) ([]walRec, error) {
	var recs []walRec
	for p := 0; len(data)-p >= walHeader; {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if n == 0 {
			break // never written
		}
		if n < walHeader || n > len(data)-p {
			break // torn, or left from the previous pass
		}
		rec := data[p : p+n]
		if crc32.Checksum(rec[8:], crcTable) != binary.BigEndian.Uint32(rec[4:8]) {
			break
		}
		lsn := binary.BigEndian.Uint64(rec[8:16])
		if len(recs) > 0 && lsn != recs[len(recs)-1].lsn+1 {
			break
		}
		ops, err := decodeWALOps(rec[walHeader:])
		if err != nil {
			return recs, fmt.Errorf("record %d at offset %d: %w", lsn, p, err)
		}
		recs = append(recs, walRec{lsn: lsn, buf: rec, ops: ops})
		p += n
	}
	return recs, nil
}

// walFile is the log file, written by the committer only.
type walFile struct {
	f       *os.File
	pos     int64  // where the next record goes
	lsn     uint64 // the last record written
	wrap    int64  // walWrapBytes
	durable bool   // sync fdatasyncs (not with Options.NoSync)
}

// openWALFile opens (creating) the log at path for writing from its start;
// lsn is the last sequence number used so far.
func openWALFile(path string, lsn uint64, wrap int64, sync bool) (*walFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	w := &walFile{f: f, lsn: lsn, wrap: wrap, durable: sync}
	if err := w.prealloc(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return w, nil
}

// prealloc writes zeros up to w.wrap bytes in a file shorter than that and
// syncs it and its directory: syncing a record written over blocks the file
// has costs one flush, where a record that grows the file also commits the
// file system's journal (measured: 175 vs 235 µs).
func (w *walFile) prealloc(dir string) error {
	st, err := w.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size >= w.wrap {
		return nil
	}
	zeros := make([]byte, min(w.wrap-size, 1<<20))
	for size < w.wrap {
		n, err := w.f.WriteAt(zeros[:min(int64(len(zeros)), w.wrap-size)], size)
		size += int64(n)
		if err != nil {
			return err
		}
	}
	if !w.durable {
		return nil
	}
	if err := fdatasync(w.f); err != nil {
		return err
	}
	return syncDir(dir)
}

// errWrap is returned by append when the record does not fit before w.wrap
// and the log must start again at its beginning (once everything in it has
// been applied).
var errWrap = errors.New("store: log full")

// write writes rec, sealed with the next sequence number, after the
// previous record. It does not sync it.
func (w *walFile) write(rec *walRec) error {
	if w.pos > 0 && w.pos+int64(len(rec.buf)) > w.wrap {
		return errWrap
	}
	rec.seal(w.lsn + 1)
	if _, err := w.f.WriteAt(rec.buf, w.pos); err != nil {
		return err
	}
	w.lsn++
	w.pos += int64(len(rec.buf))
	return nil
}

// sync makes every record written so far durable (w.durable).
func (w *walFile) sync() error {
	if !w.durable {
		return nil
	}
	return fdatasync(w.f)
}

// rewind makes the next record go at the start of the file. Every record in
// it must have been applied.
func (w *walFile) rewind() { w.pos = 0 }

func (w *walFile) close() error { return w.f.Close() }

// readWALFile reads the log at path; a missing file has no records.
func readWALFile(path string) ([]walRec, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return readWAL(data)
}

// syncDir syncs the directory at path, making a new entry in it durable.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
