// Package wal is the write-ahead log of store.Bolt: the format of its
// records and the file they are written to.
//
// A record holds one group of changes to Bolt's log buckets, each an op that
// puts a key and value into an expiry slot or deletes a key from one. A
// record is
//
//	length(4) crc32c(4) lsn(8) ops...
//	op: kind(1) slot(8) keylen(4) vallen(4) key val
//
// where crc32c covers lsn and ops, and the sequence numbers (lsn) of
// consecutive records increase by one. A key is a 16-byte message ID followed
// by a channel. Reading stops at the first record that is torn, corrupt, or
// left from the previous pass over the file.
//
// The file is reused in place: it is written with zeros up to its wrap size
// when created, records are appended until the next one does not fit, and the
// writer then starts again at the beginning once every record in the file has
// been applied. Writing over blocks that exist is cheaper to sync than
// growing the file.
//
// The package knows nothing of what the values mean: the reader of a log
// passes a check for what its own ops must satisfy.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	// HeaderSize is the size of a record's header: length, checksum and
	// sequence number.
	HeaderSize = 16
	// OpHeaderSize is the size of an op before its key and value.
	OpHeaderSize = 1 + 8 + 4 + 4
	// Put is the kind of an op that puts Key=Val into Slot.
	Put = 1
	// Del is the kind of an op that deletes Key from Slot.
	Del = 2
)

// ErrCorrupt is wrapped by the errors of records whose ops cannot be decoded
// or fail the reader's check.
var ErrCorrupt = errors.New("wal: corrupt record")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Rec is one record.
type Rec struct {
	LSN uint64
	Buf []byte // the record as written
	Ops []Op   // views into Buf
}

// Op is one change to the log buckets: put Key=Val into Slot, or delete Key
// from Slot.
type Op struct {
	Kind     byte
	Slot     uint64
	Key, Val []byte
	Ch       string   // the channel: Key[16:]
	ID       [16]byte // the message ID: Key[:16]
}

// Reset empties r for a new record.
func (r *Rec) Reset() {
	r.LSN = 0
	r.Buf = append(r.Buf[:0], make([]byte, HeaderSize)...)
	clear(r.Ops)
	r.Ops = r.Ops[:0]
}

// Add appends an op. The key and value are copied; ch must be key[16:] as a
// string that outlives r.
func (r *Rec) Add(kind byte, slot uint64, key, val []byte, ch string) {
	r.Buf = append(r.Buf, kind)
	r.Buf = binary.BigEndian.AppendUint64(r.Buf, slot)
	r.Buf = binary.BigEndian.AppendUint32(r.Buf, uint32(len(key)))
	r.Buf = binary.BigEndian.AppendUint32(r.Buf, uint32(len(val)))
	r.Buf = append(r.Buf, key...)
	r.Buf = append(r.Buf, val...)
	// Views are set by Seal: Buf may still move as it grows.
	r.Ops = append(r.Ops, Op{Kind: kind, Slot: slot, Ch: ch, ID: [16]byte(key[:16])})
}

// Seal writes the header of r with sequence number lsn and points the ops
// at their bytes in Buf.
func (r *Rec) Seal(lsn uint64) {
	r.LSN = lsn
	binary.BigEndian.PutUint32(r.Buf[0:4], uint32(len(r.Buf)))
	binary.BigEndian.PutUint64(r.Buf[8:16], lsn)
	binary.BigEndian.PutUint32(r.Buf[4:8], crc32.Checksum(r.Buf[8:], crcTable))
	p := HeaderSize
	for i := range r.Ops {
		kl := int(binary.BigEndian.Uint32(r.Buf[p+9:]))
		vl := int(binary.BigEndian.Uint32(r.Buf[p+13:]))
		p += OpHeaderSize
		r.Ops[i].Key = r.Buf[p : p+kl : p+kl]
		r.Ops[i].Val = r.Buf[p+kl : p+kl+vl : p+kl+vl]
		p += kl + vl
	}
}

// DecodeOps decodes the ops of a record body (after the header). It checks
// every length, that each key holds an ID and a channel and the kind of each
// op, then has check (if not nil) check each op, so that a record that
// passed its checksum but was not written by the log's owner is reported,
// not applied. Every error it returns wraps ErrCorrupt, those of check
// included.
func DecodeOps(body []byte, check func(*Op) error) ([]Op, error) {
	var ops []Op
	for p := 0; p < len(body); {
		if len(body)-p < OpHeaderSize {
			return nil, fmt.Errorf("%w: log op header at %d", ErrCorrupt, p)
		}
		op := Op{Kind: body[p], Slot: binary.BigEndian.Uint64(body[p+1:])}
		kl := uint64(binary.BigEndian.Uint32(body[p+9:]))
		vl := uint64(binary.BigEndian.Uint32(body[p+13:]))
		p += OpHeaderSize
		if kl+vl > uint64(len(body)-p) {
			return nil, fmt.Errorf("%w: log op of %d+%d bytes at %d", ErrCorrupt, kl, vl, p)
		}
		op.Key = body[p : p+int(kl) : p+int(kl)]
		op.Val = body[p+int(kl) : p+int(kl+vl) : p+int(kl+vl)]
		p += int(kl + vl)
		if len(op.Key) <= 16 {
			return nil, fmt.Errorf("%w: log op key %q", ErrCorrupt, op.Key)
		}
		op.ID, op.Ch = [16]byte(op.Key[:16]), string(op.Key[16:])
		switch op.Kind {
		case Put:
		case Del:
			if len(op.Val) != 0 {
				return nil, fmt.Errorf("%w: log delete with a value", ErrCorrupt)
			}
		default:
			return nil, fmt.Errorf("%w: log op kind %d", ErrCorrupt, op.Kind)
		}
		if check != nil {
			if err := check(&op); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Read reads the records of the log in data, in order, decoding their ops
// with DecodeOps(body, check). It returns them with the first one's problem,
// if reading stopped before the end of the data for another reason than the
// end of the records written in this pass (a zero length, or a sequence
// number that does not follow).
func Read(data []byte, check func(*Op) error) ([]Rec, error) {
	var recs []Rec
	for p := 0; len(data)-p >= HeaderSize; {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if n == 0 {
			break // never written
		}
		if n < HeaderSize || n > len(data)-p {
			break // torn, or left from the previous pass
		}
		rec := data[p : p+n]
		if crc32.Checksum(rec[8:], crcTable) != binary.BigEndian.Uint32(rec[4:8]) {
			break
		}
		lsn := binary.BigEndian.Uint64(rec[8:16])
		if len(recs) > 0 && lsn != recs[len(recs)-1].LSN+1 {
			break
		}
		ops, err := DecodeOps(rec[HeaderSize:], check)
		if err != nil {
			return recs, fmt.Errorf("record %d at offset %d: %w", lsn, p, err)
		}
		recs = append(recs, Rec{LSN: lsn, Buf: rec, Ops: ops})
		p += n
	}
	return recs, nil
}
