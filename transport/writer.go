package transport

import (
	"sync"
	"time"

	"github.com/heraldmq/herald/transport/mqtt"
	"github.com/heraldmq/herald/transport/websocket"
)

// maxBatchBytes bounds the messages one write carries (a message larger
// than that goes alone), so that write buffers stay small enough to reuse.
// Large writes cut the CPU per delivery when large payloads fan out (see
// mqttload's 1 KiB 1-10 and 1-100 runs). Buffers come in three sizes
// (writeBufs), so a writer holds one only as large as its batch.
const maxBatchBytes = 1 << 20

// writeLoop is the connection's writer: it takes everything queued for the
// client and writes it with one system call, again and again until nothing
// is left, then returns. It runs only while there is something to write, so
// an idle connection has no writer goroutine. It holds o's writer role.
func (c *conn) writeLoop(o *outbox) {
	defer c.srv.wg.Done()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.tail) > 0 || c.wsKept {
		c.setWriteDeadline()
		var err error
		switch {
		case c.ws == nil:
			_, err = c.nc.Write(c.tail)
		case len(c.tail) > 0:
			err = c.ws.WriteFramed(c.tail) // sends what the WebSocket kept first
		default:
			err = c.ws.Flush()
		}
		c.tail = c.tail[:0]
		c.wsKept = false
		if err != nil {
			c.writeFailed(o)
			return
		}
	}
	for {
		batch, ctrl, size, ok := o.take(c, reuse(c.batch, &batchPool), reuse(c.spare, &ctrlPool), true)
		if !ok {
			c.batch = release(batch, keptBatchCap, &batchPool)
			c.spare = release(ctrl, keptCtrlCap, &ctrlPool)
			return
		}
		buf := getWriteBuf(size + len(ctrl))
		if c.ws != nil {
			buf.b = append(buf.b, make([]byte, websocket.MaxHeaderLen)...) // room for the frame header
		}
		buf.b = appendBatch(buf.b, batch, ctrl)
		c.setWriteDeadline()
		var err error
		if c.ws != nil {
			err = c.ws.WriteFramed(buf.b)
		} else {
			_, err = c.nc.Write(buf.b)
		}
		putWriteBuf(buf)
		c.batch, c.spare = batch[:0], ctrl[:0]
		if err != nil {
			c.writeFailed(o)
			return
		}
	}
}

// setWriteDeadline pushes the write deadline back, only when less than half
// of WriteTimeout is left, not before every write: each change is a timer
// update in the runtime.
func (c *conn) setWriteDeadline() {
	if now := time.Now(); c.wdl.Sub(now) < c.srv.opts.WriteTimeout/2 {
		c.wdl = now.Add(c.srv.opts.WriteTimeout)
		_ = c.nc.SetWriteDeadline(c.wdl)
	}
}

// writeFailed closes the connection after a failed write and gives up the
// writer role.
func (c *conn) writeFailed(o *outbox) {
	c.nc.Close()
	o.releaseWriter(c)
}

// encodeBatch takes what can be sent now from o (the caller holds the
// writer role and wmu) and appends its encoding to buf. It reports false
// when c is no longer o's connection.
func (c *conn) encodeBatch(o *outbox, buf []byte) ([]byte, bool) {
	batch, ctrl, _, ok := o.take(c, reuse(c.batch, &batchPool), reuse(c.spare, &ctrlPool), false)
	if ok {
		buf = appendBatch(buf, batch, ctrl)
	}
	c.batch = release(batch, keptBatchCap, &batchPool)
	c.spare = release(ctrl, keptCtrlCap, &ctrlPool)
	return buf, ok
}

// appendBatch appends the encoding of batch (messages, and control packets
// whose bytes are in ctrl) to dst, and clears batch's items.
func appendBatch(dst []byte, batch []inflight, ctrl []byte) []byte {
	for i := range batch {
		f := &batch[i]
		if f.m == nil {
			dst = append(dst, ctrl[f.ctrl:f.ctrl+f.nctrl]...)
		} else {
			dst, _ = mqtt.AppendPublish(dst, f.topic(), f.m.Payload, f.qos, f.id, false, f.retain)
		}
		batch[i] = inflight{}
	}
	return dst
}

// flushInline is the writer's work done on a publisher's read goroutine, for
// a TCP connection (raw, or under a WebSocket whose frame is built in place
// around the batch) whose writer is idle: what is queued is encoded and
// written with one non-blocking system call. Whatever the socket does not
// take at once (and whatever is queued meanwhile) goes to a writer goroutine,
// so the publisher never waits for this client. At low rates this saves a
// goroutine start and a thread handoff per message; in a burst the publisher
// does not come here (its reader still has packets buffered) and writers
// batch as usual. The caller holds o's writer role.
func (c *conn) flushInline(o *outbox) {
	c.wmu.Lock()
	buf := getWriteBuf(0)
	head := 0
	if c.ws != nil {
		head = websocket.MaxHeaderLen
		buf.b = append(buf.b, make([]byte, head)...) // room for the frame header
	}
	var ok bool
	buf.b, ok = c.encodeBatch(o, buf.b)
	failed := false
	if ok && len(buf.b) > head {
		if c.ws != nil {
			sent, kept, err := c.ws.TryWriteFramed(buf.b, c.wsWrite)
			switch {
			case err != nil:
				failed = true
			case !sent: // a pong or close frame is being written: the writer sends it
				c.tail = append(c.tail[:0], buf.b...)
			case kept:
				c.wsKept = true
			}
		} else {
			n, err := c.tc.tryWrite(buf.b)
			switch {
			case err != nil:
				failed = true
			case n < len(buf.b):
				c.tail = append(c.tail[:0], buf.b[n:]...)
			}
		}
	}
	putWriteBuf(buf)
	more := len(c.tail) > 0 || c.wsKept
	c.wmu.Unlock()
	if failed {
		c.writeFailed(o)
		return
	}
	o.inlineDone(c, more)
}

type writeBuf struct{ b []byte }

// Writer buffers come in three sizes: for up to smallBatch bytes of packets
// (most writes, and the inline ones), up to midBatch, and a full batch
// (maxBatchBytes), each with room for the message that crosses the limit. A
// buffer is made at its full size: the pools are emptied by every garbage
// collection, and a buffer grown by appends would cost a chain of
// allocations three times that size each time. A writer waiting on a slow
// client holds its buffer.
const (
	smallBatch    = 64 << 10
	midBatch      = 256 << 10
	smallWriteBuf = smallBatch + 8<<10
	midWriteBuf   = midBatch + 8<<10
	largeWriteBuf = maxBatchBytes + 8<<10
)

var writeBufs = [...]struct {
	batch, size int // the packet bytes it is for, and its capacity
	pool        sync.Pool
}{{batch: smallBatch, size: smallWriteBuf}, {batch: midBatch, size: midWriteBuf}, {batch: maxBatchBytes, size: largeWriteBuf}}

// getWriteBuf returns an empty buffer for about n bytes of packets.
func getWriteBuf(n int) *writeBuf {
	i := 0
	for i < len(writeBufs)-1 && n > writeBufs[i].batch {
		i++
	}
	if w, ok := writeBufs[i].pool.Get().(*writeBuf); ok {
		return w
	}
	return &writeBuf{b: make([]byte, 0, writeBufs[i].size)}
}

// putWriteBuf returns w to the pool of its size; a buffer grown for one very
// large message is dropped.
func putWriteBuf(w *writeBuf) {
	w.b = w.b[:0]
	c := cap(w.b)
	if c > 2*largeWriteBuf {
		return
	}
	for i := len(writeBufs) - 1; i >= 0; i-- {
		if c >= writeBufs[i].size {
			writeBufs[i].pool.Put(w)
			return
		}
	}
	// Smaller than any size: not made by getWriteBuf, dropped.
}
