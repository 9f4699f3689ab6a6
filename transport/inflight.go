package transport

import "github.com/heraldmq/herald/transport/mqtt"

// inflight is a QoS 1 or 2 message sent and not yet fully acknowledged. A
// writer's batch is made of them too: messages (with their packet ids once
// taken) and runs of control packets.
type inflight struct {
	outMsg
	id  uint16
	rel bool   // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
	seq uint64 // window.seq when id was handed out
}

// window is a client's in-flight window: the QoS 1 and 2 messages sent to it
// and not yet fully acknowledged, in the order they were sent (the client
// acknowledges in that order, MQTT-4.6.0-2), and the packet ids they were
// given. The outbox that holds it guards it with its mutex.
type window struct {
	list []inflight // list[head:] is in flight
	head int
	next uint16 // the packet id handed out last
	seq  uint64 // packet ids tried so far (see newID)
}

// len returns the number of messages in flight.
func (w *window) len() int { return len(w.list) - w.head }

// entries returns the messages in flight, oldest first. The slice is the
// window's own, valid until it changes.
func (w *window) entries() []inflight { return w.list[w.head:] }

// add gives o a packet id, enters it in the window and returns the entry.
func (w *window) add(o outMsg) inflight {
	id := w.newID()
	f := inflight{outMsg: o, id: id, seq: w.seq}
	if len(w.list) == cap(w.list) {
		w.grow()
	}
	w.list = append(w.list, f)
	return f
}

// grow makes room in a full list before an append: it moves the entries in
// flight to the front when acknowledged ones occupy the start, or else, past
// the kept capacity, takes a larger list from inflightPool if one is there.
func (w *window) grow() {
	if w.head > 0 {
		n := copy(w.list, w.list[w.head:])
		clear(w.list[n:])
		w.list, w.head = w.list[:n], 0
		return
	}
	w.list = grow(w.list, keptInflightCap, &inflightPool)
}

// newID returns a packet id not in flight. Ids are tried in turn and the
// list is in the order they were handed out, so every id in flight is one of
// those tried since the oldest was handed out: while that is fewer than
// 65535, the next id cannot be in flight and nothing is searched.
func (w *window) newID() uint16 {
	for {
		w.next++
		if w.next == 0 {
			w.next = 1
		}
		w.seq++
		if w.head == len(w.list) || w.seq-w.list[w.head].seq < 65535 {
			return w.next
		}
		used := false
		for i := w.head; i < len(w.list); i++ {
			if w.list[i].id == w.next {
				used = true
				break
			}
		}
		if !used {
			return w.next
		}
	}
}

// ack handles one acknowledgement of type t (PUBACK, PUBREC or PUBCOMP) and
// reports whether it ended an exchange, freeing a place in the window. An id
// not in flight, or not for that type, is ignored. The one acknowledged is
// normally the oldest in flight.
func (w *window) ack(t mqtt.Type, id uint16) bool {
	for i := w.head; i < len(w.list); i++ {
		f := &w.list[i]
		if f.id != id {
			continue
		}
		switch {
		case t == mqtt.Puback && f.qos == mqtt.AtLeastOnce,
			t == mqtt.Pubcomp && f.qos == mqtt.ExactlyOnce:
			if i == w.head { // the oldest: no shifting
				*f = inflight{}
				w.head++
				if w.head == len(w.list) {
					// As for queues: do not keep a burst's window.
					w.list, w.head = release(w.list, keptInflightCap, &inflightPool), 0
				}
			} else {
				copy(w.list[i:], w.list[i+1:])
				w.list[len(w.list)-1] = inflight{}
				w.list = w.list[:len(w.list)-1]
			}
			return true
		case t == mqtt.Pubrec && f.qos == mqtt.ExactlyOnce:
			f.rel = true
			f.m = nil // the message is delivered; keep only the id
		}
		return false
	}
	return false
}

// resend appends to buf what a reconnecting client gets again before
// anything else: every message in flight (DUP set), or a PUBREL for those it
// has acknowledged with PUBREC.
func (w *window) resend(buf []byte) []byte {
	for _, f := range w.entries() {
		if f.rel {
			buf = mqtt.AppendAck(buf, mqtt.Pubrel, f.id)
			continue
		}
		buf, _ = mqtt.AppendPublish(buf, f.topic(), f.m.Payload, f.qos, f.id, true, f.retain)
	}
	return buf
}

// keepCopies gives the messages in flight copies of their own, for a client
// that is away, perhaps for long (see engine.Message).
func (w *window) keepCopies() {
	for i := w.head; i < len(w.list); i++ {
		if m := w.list[i].m; m != nil {
			w.list[i].m = m.Clone()
		}
	}
}

// restore makes list (entries read from the session file) the messages in
// flight, next the packet id handed out last. They have no sequence
// numbers: the next ids are searched for until they are all acknowledged.
func (w *window) restore(next uint16, list []inflight) {
	w.list, w.head, w.next, w.seq = list, 0, next, 1<<16
}

// reset forgets the messages in flight.
func (w *window) reset() { w.list, w.head = nil, 0 }
