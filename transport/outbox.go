package transport

import (
	"context"
	"slices"
	"sync"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/internal/backpressure"
	"github.com/heraldmq/herald/transport/mqtt"
)

// outMsg is a message waiting to be sent to a client, or (m == nil) a run
// of control packets in the outbox's ctrl buffer, so that everything goes
// out in the order it was queued.
type outMsg struct {
	m      *engine.Message
	qos    mqtt.QoS
	plain  bool // a plain MQTT subscription: the topic is the channel without its trailing '/'
	retain bool
	ctrl   int32 // control packets: offset in ctrl
	nctrl  int32 // control packets: length
}

// topic returns the MQTT topic the message is delivered on.
func (o *outMsg) topic() string {
	if o.plain {
		return o.m.Channel[:len(o.m.Channel)-1]
	}
	return o.m.Channel
}

// outbox is the outbound half of a session: what waits for the client
// (messages and runs of control packets, in the order they go out), the
// in-flight window, the connection it all goes to, and the writer role. At
// most one writer holds the role at a time (a writer goroutine, an inline
// write on a publisher's goroutine, or connect while it writes the CONNACK);
// it takes what can be sent with take and writes it to the connection. The
// mutex guards everything here; the connection, its writers and the
// handlers of the session's subscriptions go through the methods.
type outbox struct {
	srv *Server

	mu      sync.Mutex
	conn    *conn    // attached connection, nil while the client is away
	writing bool     // the writer role is taken
	closed  bool     // the session is destroyed: nothing is queued any more
	queue   []outMsg // queue[head:] is waiting
	head    int
	nmsgs   int    // messages (not control runs) waiting
	nruns   int    // control runs waiting
	ctrl    []byte // encoded control packets for the attached connection
	window  window
	recent  [8]engine.ID // recently queued live messages: one copy per client
	recentN int
	gate    backpressure.Gate // publishers waiting for room in a full queue
}

// enqueue queues m for the client, or keeps it while the client is away (see
// admitLocked for what is dropped). pub is the publisher open for the
// publish that delivers m, if any: when the client's writer is idle, pub is
// asked to write m itself once its publish is over.
func (o *outbox) enqueue(m outMsg, pub *publisher) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	if !m.retain {
		id := m.m.ID
		for i := range min(o.recentN, len(o.recent)) {
			if o.recent[i] == id {
				o.raiseQoSLocked(id, m.qos)
				o.mu.Unlock()
				return
			}
		}
		o.recent[o.recentN%len(o.recent)] = id
		o.recentN++
	}
	// The common case, room for a connected client, is tested inline.
	if (o.nmsgs >= o.srv.opts.QueueSize || (o.conn == nil && m.qos == mqtt.AtMostOnce)) && !o.admitLocked(m) {
		o.mu.Unlock()
		o.srv.dropped.Add(1)
		return
	}
	if o.conn == nil {
		// Kept for a client that is away, perhaps for long: a copy of its
		// own, not one that holds on to the engine's shared blocks (see
		// engine.Message).
		m.m = m.m.Clone()
	}
	o.growQueueLocked()
	o.queue = append(o.queue, m)
	o.nmsgs++
	// pub first: in a burst there is none, and the subscriber's connection,
	// whose writer state its writer goroutine keeps changing, is not read.
	if c := o.conn; pub != nil && c != nil && !o.writing && c.canWriteInline() && pub.reserve(o, c) {
		o.writing = true
		o.mu.Unlock()
		return
	}
	o.kickLocked()
	o.mu.Unlock()
}

// raiseQoSLocked gives the queued copy of the message id, a duplicate
// arriving through another of the session's subscriptions (one copy per
// client when several match), the higher of its QoS and qos.
func (o *outbox) raiseQoSLocked(id engine.ID, qos mqtt.QoS) {
	for j := len(o.queue) - 1; j >= o.head && j >= len(o.queue)-64; j-- {
		// By ID: a copy kept for a client that is away is not the message
		// itself. Control runs have no message.
		if q := &o.queue[j]; q.m != nil && q.m.ID == id && q.qos < qos {
			q.qos = qos
		}
	}
}

// admitLocked reports whether m may join the queue. QoS 0 messages are not
// kept for a client that is away, and no message beyond QueueSize is. When a
// connected client's queue is full, the publisher waits for room as the
// engine's Block policy does (backpressure.Gate), with o.mu released
// meanwhile.
func (o *outbox) admitLocked(m outMsg) bool {
	if o.conn == nil && m.qos == mqtt.AtMostOnce {
		return false
	}
	max := o.srv.opts.QueueSize
	if o.nmsgs < max {
		return true
	}
	if o.conn == nil || !o.gate.Wait(context.Background(), &o.mu, o.srv.opts.SlowTimeout, o.fullLocked) {
		return false
	}
	// The client may have gone away, or the session ended, meanwhile.
	return !o.closed && o.nmsgs < max && (o.conn != nil || m.qos > mqtt.AtMostOnce)
}

// fullLocked reports whether a publisher has to wait for room: a connected
// client's queue is full.
func (o *outbox) fullLocked() bool {
	return o.conn != nil && !o.closed && o.nmsgs >= o.srv.opts.QueueSize
}

// sendCtrl queues encoded control packets for c, if it is still the
// connection. It reports false when c has let too many pile up (it is
// closed then).
func (o *outbox) sendCtrl(c *conn, b []byte) bool {
	ok, _ := o.queueCtrl(c, b, false)
	return ok
}

// queueCtrl is sendCtrl. With inline (from c's read goroutine when c can be
// written inline), it takes the writer role itself if it is free, and
// reports flush: the caller then calls c.flushInline.
func (o *outbox) queueCtrl(c *conn, b []byte, inline bool) (ok, flush bool) {
	o.mu.Lock()
	if o.conn != c {
		o.mu.Unlock()
		return true, false
	}
	if len(o.ctrl)+len(b) > o.srv.opts.MaxPending {
		o.mu.Unlock()
		c.shutdown()
		return false, false
	}
	if n := len(o.queue); n > o.head && o.queue[n-1].m == nil && int(o.queue[n-1].ctrl+o.queue[n-1].nctrl) == len(o.ctrl) {
		o.queue[n-1].nctrl += int32(len(b)) // extend the last run
	} else {
		o.growQueueLocked()
		o.queue = append(o.queue, outMsg{ctrl: int32(len(o.ctrl)), nctrl: int32(len(b))})
		o.nruns++
	}
	o.ctrl = append(o.ctrl, b...)
	if inline && !o.writing {
		o.writing = true
		o.mu.Unlock()
		return true, true
	}
	o.kickLocked()
	o.mu.Unlock()
	return true, false
}

// kickLocked starts a writer goroutine if a connection is attached and the
// writer role is free.
func (o *outbox) kickLocked() {
	if o.conn == nil || o.writing {
		return
	}
	o.writing = true
	o.startWriterLocked(o.conn)
}

// startWriterLocked starts a writer goroutine for c, which holds the writer
// role. c's read loop is running, so the server's WaitGroup is above zero:
// Shutdown waits for this writer too.
func (o *outbox) startWriterLocked(c *conn) {
	o.srv.wg.Add(1)
	go c.writeLoop(o)
}

// take hands c's writer what can be sent now (see takeLocked): the batch,
// and the control bytes its runs refer to, which the outbox swaps for spare;
// size is roughly the bytes of the batch's messages. It reports false, with
// nothing taken, when c is not the connection any more or is closed. The
// writer goroutine passes last: when it finds nothing to take, or c closed,
// it gives up the writer role in the same step, so that whoever queues next
// starts a new one.
func (o *outbox) take(c *conn, batch []inflight, spare []byte, last bool) (_ []inflight, ctrl []byte, size int, ok bool) {
	o.mu.Lock()
	if o.conn != c || c.closed.Load() {
		if last && o.conn == c {
			o.writing = false
		}
		o.mu.Unlock()
		return batch, spare, 0, false
	}
	batch, size = o.takeLocked(batch)
	ctrl, o.ctrl = o.ctrl, spare
	if last && len(batch) == 0 {
		o.writing = false
		o.ctrl = release(o.ctrl, keptCtrlCap, &ctrlPool)
		o.mu.Unlock()
		return batch, ctrl, 0, false
	}
	o.mu.Unlock()
	return batch, ctrl, size, true
}

// takeLocked moves what can be sent now into batch, in queue order: every
// control run, and the messages up to the first QoS 1/2 one that does not
// fit the in-flight window (those taken enter the window) or the batch's
// maxBatchBytes. Control runs behind a blocked message still go, so that
// acknowledgements never wait for the client's. It also returns roughly how
// many bytes the batch's messages take.
func (o *outbox) takeLocked(batch []inflight) ([]inflight, int) {
	max := o.srv.opts.MaxInflight
	size := 0
	q := o.queue[o.head:]
	i := 0
	for ; i < len(q); i++ {
		m := q[i]
		if m.m == nil {
			batch = append(batch, inflight{outMsg: m})
			o.nruns--
			continue
		}
		if size >= maxBatchBytes || (m.qos > mqtt.AtMostOnce && o.window.len() >= max) {
			break
		}
		f := inflight{outMsg: m}
		if m.qos > mqtt.AtMostOnce {
			f = o.window.add(m)
		}
		batch = append(batch, f)
		o.nmsgs--
		size += len(m.m.Payload) + len(m.m.Channel) + 8
	}
	clear(q[:i])
	o.head += i
	if i > 0 {
		o.gate.Wake()
	}
	if o.nruns > 0 {
		// Control runs behind the first message that must wait: they go
		// now, the messages keep their order.
		rest := o.queue[o.head:]
		n := 0
		for _, m := range rest {
			if m.m == nil {
				batch = append(batch, inflight{outMsg: m})
				continue
			}
			rest[n] = m
			n++
		}
		clear(rest[n:])
		o.queue = o.queue[:o.head+n]
		o.nruns = 0
	}
	switch {
	case o.head == len(o.queue):
		// Do not keep a burst's worth of memory in the session; lend it
		// to the next session that fills up (its items are cleared).
		o.queue, o.head = release(o.queue, keptQueueCap, &queuePool), 0
	case o.head > cap(o.queue)/2:
		o.compactLocked()
	}
	return batch, size
}

// releaseWriter gives up c's writer role (after a failed write).
func (o *outbox) releaseWriter(c *conn) {
	o.mu.Lock()
	if o.conn == c {
		o.writing = false
	}
	o.mu.Unlock()
}

// inlineDone ends an inline write to c: when it left bytes to send (more)
// or something is queued meanwhile, a writer goroutine takes over the
// writer role; otherwise the role is free.
func (o *outbox) inlineDone(c *conn, more bool) {
	o.mu.Lock()
	if o.conn == c {
		if more || len(o.queue) > o.head {
			o.startWriterLocked(c)
		} else {
			o.writing = false
		}
	}
	o.mu.Unlock()
}

// ack handles acknowledgements of type t (PUBACK, PUBREC or PUBCOMP) from
// the client, for the packet ids in ids, under one lock: a client acking a
// burst sends runs of them (see mqtt.Reader.ReadAcks).
func (o *outbox) ack(t mqtt.Type, ids []uint16) {
	o.mu.Lock()
	freed := false
	for _, id := range ids {
		freed = o.window.ack(t, id) || freed
	}
	if freed && len(o.queue) > o.head {
		o.kickLocked()
	}
	o.mu.Unlock()
}

// attach makes c the connection and returns buf with what must be sent
// before anything else: the window again (see window.resend). Control
// packets queued for an earlier connection are dropped. The caller keeps the
// writer role until it has written buf after the CONNACK, then calls
// attached.
func (o *outbox) attach(c *conn, buf []byte) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.conn = c
	o.writing = true
	o.dropCtrlLocked()
	return o.window.resend(buf)
}

// attached releases the writer role after the CONNACK has been written.
func (o *outbox) attached(c *conn) {
	o.mu.Lock()
	if o.conn == c {
		o.writing = false
		if len(o.queue) > o.head {
			o.kickLocked()
		}
	}
	o.mu.Unlock()
}

// detach forgets c if it is the connection, and reports whether it was.
// Control packets and QoS 0 messages are dropped. With keep (a persistent
// session), the messages left get copies of their own, as enqueue makes for
// a client that is away.
func (o *outbox) detach(c *conn, keep bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conn != c {
		return false
	}
	o.conn = nil
	o.gate.Wake() // waiting publishers look again: the client is away
	o.compactLocked()
	o.nruns = 0
	n := 0
	for _, m := range o.queue {
		if m.m != nil && m.qos > mqtt.AtMostOnce {
			o.queue[n] = m
			n++
		}
	}
	clear(o.queue[n:])
	o.queue = o.queue[:n]
	o.nmsgs = n
	o.ctrl = nil
	if keep {
		for i := range o.queue {
			o.queue[i].m = o.queue[i].m.Clone()
		}
		o.window.keepCopies()
	}
	return true
}

// connection returns the attached connection, nil while the client is away.
func (o *outbox) connection() *conn {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conn
}

// close drops everything and makes enqueue drop what comes later, for a
// session that is destroyed.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.gate.Wake()
	o.queue, o.ctrl, o.nmsgs, o.head, o.nruns = nil, nil, 0, 0, 0
	o.window.reset()
	o.mu.Unlock()
}

// contents returns copies of the messages in flight and of those queued,
// and the packet id handed out last, for the session file.
func (o *outbox) contents() (inflight []inflight, queued []outMsg, next uint16) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.window.entries()), slices.Clone(o.queue[o.head:]), o.window.next
}

// restore puts back what contents returned, in a session read from the
// session file, behind whatever was queued meanwhile.
func (o *outbox) restore(inflight []inflight, queued []outMsg, next uint16) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range queued {
		o.growQueueLocked()
		o.queue = append(o.queue, m)
		o.nmsgs++
	}
	o.window.restore(next, inflight)
}

// growQueueLocked gives a full queue that has outgrown the kept capacity a
// larger array from queuePool, if one is there, before an append.
func (o *outbox) growQueueLocked() {
	if len(o.queue) == cap(o.queue) {
		o.queue = grow(o.queue, keptQueueCap, &queuePool)
	}
}

// compactLocked moves the waiting items to the front of the queue.
func (o *outbox) compactLocked() {
	if o.head == 0 {
		return
	}
	n := copy(o.queue, o.queue[o.head:])
	clear(o.queue[n:])
	o.queue, o.head = o.queue[:n], 0
}

// dropCtrlLocked forgets queued control packets (they were for a
// connection that is gone).
func (o *outbox) dropCtrlLocked() {
	o.compactLocked()
	o.nruns = 0
	n := 0
	for _, m := range o.queue {
		if m.m != nil {
			o.queue[n] = m
			n++
		}
	}
	clear(o.queue[n:])
	o.queue = o.queue[:n]
	o.ctrl = o.ctrl[:0]
}
