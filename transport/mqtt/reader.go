package mqtt

import (
	"io"
	"math/bits"
	"sync"
)

const (
	smallBufSize = 128      // inline buffer used while a connection is idle
	midBufSize   = 16 << 10 // pooled buffer used while bytes keep coming
	bigBufSize   = 64 << 10 // pooled buffer used while reads keep filling midBufSize
	minBodyClass = 13       // 8 KiB: smallest pooled body buffer for large packets
	maxBodyClass = 20       // 1 MiB: largest pooled body buffer
)

var (
	midPool = sync.Pool{New: func() any { return new([midBufSize]byte) }}
	bigPool = sync.Pool{New: func() any { return new([bigBufSize]byte) }}
)

var bodyPools [maxBodyClass - minBodyClass + 1]sync.Pool

// getBody returns an empty buffer of capacity at least n, from the
// size-class pools when n is in their range. The pointer goes back with
// putBody, so that a pooled buffer costs no allocation.
func getBody(n int) *[]byte {
	c := bits.Len(uint(n - 1))
	if c < minBodyClass {
		c = minBodyClass
	}
	if c <= maxBodyClass {
		if bp, ok := bodyPools[c-minBodyClass].Get().(*[]byte); ok {
			*bp = (*bp)[:0]
			return bp
		}
		n = 1 << c
	}
	b := make([]byte, 0, n)
	return &b
}

func putBody(bp *[]byte) {
	c := bits.Len(uint(cap(*bp) - 1))
	if cap(*bp) != 1<<c || c < minBodyClass || c > maxBodyClass {
		return
	}
	*bp = (*bp)[:0]
	bodyPools[c-minBodyClass].Put(bp)
}

// Reader reads MQTT packets from a byte stream with little memory per idle
// stream: while nothing is buffered it reads into a 128-byte array inside the
// Reader; when a read fills that, it borrows a 16 KiB buffer from a pool, and
// when a read fills that too (the peer is streaming faster than it is read) a
// 64 KiB one, so that a busy stream costs few read calls; the pooled buffer
// goes back as soon as everything buffered has been decoded. Packets larger
// than the buffer are read into pooled buffers that grow as the bytes arrive,
// so a peer that announces a large packet and sends nothing costs little, and
// a peer needs to send 16 KiB without pause to make the Reader hold 64 KiB.
//
// The maximum packet size is checked on the fixed header, before any memory is
// set aside for the body.
//
// A Reader is not safe for concurrent use; it must not be copied after first use.
type Reader struct {
	rd         io.Reader
	max        int
	mid        *[midBufSize]byte // nil unless reading into the 16 KiB buffer
	big        *[bigBufSize]byte // nil unless reading into the 64 KiB buffer
	start, end int               // unread bytes are buf()[start:end]
	body       *[]byte           // pooled body of the last large packet
	small      [smallBufSize]byte
}

// NewReader returns a Reader that reads from rd and refuses packets larger than
// maxPacketSize bytes, fixed header included (0 means the protocol maximum).
func NewReader(rd io.Reader, maxPacketSize int) *Reader {
	r := &Reader{}
	r.Reset(rd, maxPacketSize)
	return r
}

// Reset discards any buffered data, returns pooled buffers, and makes r read
// from rd with the given maximum packet size.
func (r *Reader) Reset(rd io.Reader, maxPacketSize int) {
	r.Release()
	r.rd = rd
	if maxPacketSize <= 0 || maxPacketSize > MaxRemainingLength+5 {
		maxPacketSize = MaxRemainingLength + 5
	}
	r.max = maxPacketSize
}

// Preload makes the next reads return b before anything read from the
// stream: for bytes a protocol sniffer already took. b must be at most 128
// bytes and must be given before the first ReadPacket; Preload reports
// whether it was taken.
func (r *Reader) Preload(b []byte) bool {
	if r.end != 0 || r.mid != nil || r.big != nil || len(b) > smallBufSize {
		return false
	}
	r.start, r.end = 0, copy(r.small[:], b)
	return true
}

// Release gives the Reader's pooled buffers back and discards buffered bytes.
// Packets decoded earlier must not be used afterwards. The Reader remains
// usable.
func (r *Reader) Release() {
	r.putBuf()
	if r.body != nil {
		putBody(r.body)
		r.body = nil
	}
	r.start, r.end = 0, 0
}

// Buffered returns the number of bytes read from the stream but not yet
// decoded.
func (r *Reader) Buffered() int { return r.end - r.start }

// Complete reports whether a whole packet (or a malformed header) is
// buffered, so that the next ReadPacket will not wait for the stream.
func (r *Reader) Complete() bool {
	_, n, hs, ok, err := parseHeader(r.buf()[r.start:r.end])
	return err != nil || (ok && hs+n <= r.end-r.start)
}

// ReadAcks appends to ids the packet identifiers of the well-formed
// acknowledgements of type t (PUBACK, PUBREC or PUBCOMP) that come next in
// what is already buffered, at most limit of them, and consumes them. It stops
// at the first other packet, malformed one or partial one, which the next
// ReadPacket returns (or reports); it never reads from the stream. A client
// acknowledging a burst sends runs of such 4-byte packets: taking a run at
// once spares decoding each into a Packet.
func (r *Reader) ReadAcks(t Type, ids []uint16, limit int) []uint16 {
	if t != Puback && t != Pubrec && t != Pubcomp {
		return ids
	}
	b := r.buf()[r.start:r.end]
	first := byte(t) << 4
	i := 0
	for ; limit > 0 && len(b)-i >= 4 && b[i] == first && b[i+1] == 2; i += 4 {
		id := uint16(b[i+2])<<8 | uint16(b[i+3])
		if id == 0 {
			break
		}
		ids = append(ids, id)
		limit--
	}
	r.start += i
	return ids
}

func (r *Reader) buf() []byte {
	switch {
	case r.big != nil:
		return r.big[:]
	case r.mid != nil:
		return r.mid[:]
	}
	return r.small[:]
}

// putBuf gives the pooled read buffer back; the caller has dealt with the
// bytes in it.
func (r *Reader) putBuf() {
	if r.mid != nil {
		midPool.Put(r.mid)
		r.mid = nil
	}
	if r.big != nil {
		bigPool.Put(r.big)
		r.big = nil
	}
}

// upgrade moves the unread bytes into the next larger buffer: the pooled
// 16 KiB one after the inline array, the pooled 64 KiB one after that.
func (r *Reader) upgrade() {
	old := r.buf()[r.start:r.end]
	switch {
	case r.big != nil:
		return // the largest already
	case r.mid == nil:
		mid := midPool.Get().(*[midBufSize]byte)
		r.end = copy(mid[:], old)
		r.mid = mid
	default:
		big := bigPool.Get().(*[bigBufSize]byte)
		r.end = copy(big[:], old)
		midPool.Put(r.mid)
		r.mid, r.big = nil, big
	}
	r.start = 0
}

// fill reads at least one more byte into the buffer, compacting or upgrading
// it to make room.
func (r *Reader) fill() error {
	b := r.buf()
	if r.end == len(b) {
		if r.start > 0 {
			r.end = copy(b, b[r.start:r.end])
			r.start = 0
		} else {
			r.upgrade()
		}
		b = r.buf()
	}
	for range 100 {
		n, err := r.rd.Read(b[r.end:])
		r.end += n
		if n > 0 {
			if r.big == nil && r.end == len(b) && (r.mid == nil || n > len(b)/2) {
				// A full inline array, or a read that filled most of the
				// 16 KiB buffer: more is likely waiting, so read the rest
				// into a larger buffer.
				r.upgrade()
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// ReadPacket reads the next packet into p. The []byte fields of p alias the
// Reader's buffers until the next call to ReadPacket, Reset or Release.
//
// It returns io.EOF if the stream ended cleanly between two packets,
// io.ErrUnexpectedEOF if it ended inside one, an *Error for a packet that
// breaks the protocol (the stream cannot be resynchronised after it), or the
// underlying reader's error.
func (r *Reader) ReadPacket(p *Packet) error {
	if r.body != nil {
		putBody(r.body)
		r.body = nil
	}
	if r.start == r.end {
		r.start, r.end = 0, 0
		r.putBuf()
	}
	var (
		first     byte
		n, hs     int
		ok        bool
		err       error
		sawHeader bool
	)
	for {
		first, n, hs, ok, err = parseHeader(r.buf()[r.start:r.end])
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if err := r.fill(); err != nil {
			return eof(err, sawHeader || r.end > r.start)
		}
		sawHeader = true
	}
	total := hs + n
	if total > r.max {
		return &Error{Type: Type(first >> 4), Err: ErrPacketTooLarge}
	}
	// A packet that fits the 16 KiB buffer (or the 64 KiB one, which a
	// stream only gets by sending fast) is read into it; a larger one goes
	// to a body buffer that grows as its bytes arrive, so that announcing a
	// large packet takes no memory.
	limit := midBufSize
	if r.big != nil {
		limit = bigBufSize
	}
	if total <= limit {
		if r.mid == nil && r.big == nil && total > smallBufSize {
			r.upgrade()
		}
		b := r.buf()
		if r.start+total > len(b) {
			r.end = copy(b, b[r.start:r.end])
			r.start = 0
		}
		for r.end-r.start < total {
			if err := r.fill(); err != nil {
				return eof(err, true)
			}
		}
		b = r.buf()
		body := b[r.start+hs : r.start+total : r.start+total]
		r.start += total
		return decodeBody(first, body, p)
	}
	// A packet larger than the read buffer: collect its body in a pooled
	// buffer that grows with what actually arrives.
	buffered := r.buf()[r.start+hs : r.end]
	bp := getBody(min(n, max(1<<minBodyClass, len(buffered))))
	*bp = append(*bp, buffered...)
	r.start, r.end = 0, 0
	for len(*bp) < n {
		body := *bp
		if len(body) == cap(body) {
			nbp := getBody(min(n, 2*cap(body)))
			*nbp = append(*nbp, body...)
			putBody(bp)
			bp, body = nbp, *nbp
		}
		m, err := r.rd.Read(body[len(body):min(n, cap(body))])
		*bp = body[:len(body)+m]
		if m == 0 && err != nil {
			putBody(bp)
			return eof(err, true)
		}
	}
	r.body = bp
	return decodeBody(first, *bp, p)
}

func eof(err error, partial bool) error {
	if err == io.EOF && partial {
		return io.ErrUnexpectedEOF
	}
	return err
}
