package transport

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/transport/mqtt"
)

// outMsg is a message waiting to be sent to a client, or (m == nil) a run
// of control packets in the session's ctrl buffer, so that everything goes
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

// inflight is a QoS 1 or 2 message sent and not yet fully acknowledged.
type inflight struct {
	outMsg
	id  uint16
	rel bool   // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
	seq uint64 // session.idSeq when id was handed out
}

// subEntry is one MQTT subscription of a session: a filter and the engine
// subscription(s) that feed it.
type subEntry struct {
	sess   *session
	filter string // as the client sent it
	plain  bool
	qos    atomic.Uint32
	sub    *engine.Subscription

	// For persistence: how to subscribe again.
	channel string // engine channel, options included
	key     string // Emitter key, "" for plain
}

// handle runs inline on the publisher's goroutine: it only queues.
func (e *subEntry) handle(m *engine.Message) {
	// A message a network client published (through its session's engine
	// Conn) is delivered at the lower of its QoS and the subscription's, and
	// the publisher's connection may write to idle subscribers itself;
	// messages published in-process or replayed go at the subscription's.
	qos := mqtt.QoS(e.qos.Load())
	var pub *conn
	if from := m.From(); from != nil {
		if ps, ok := from.Data().(*session); ok {
			pub = ps.publishing.Load()
			qos = min(qos, mqtt.QoS(m.QoS))
		}
	}
	e.sess.enqueue(outMsg{m: m, qos: qos, plain: e.plain, retain: m.Retained}, pub)
}

// session is the state MQTT keeps for a client id: subscriptions, messages
// queued or in flight, and QoS 2 packet ids received. A persistent session
// outlives its network connections.
type session struct {
	srv   *Server
	id    string
	clean bool
	ec    *engine.Conn

	publishing atomic.Pointer[conn] // the connection inside ec.Publish, if any

	subMu sync.Mutex // guards subs; never held while mu is wanted by a handler call
	subs  map[string]*subEntry

	mu        sync.Mutex
	conn      *conn    // attached connection, nil while the client is away
	writing   bool     // a writer goroutine is running (or attach is writing)
	queue     []outMsg // queue[head:] is waiting
	head      int
	nmsgs     int        // messages (not control runs) waiting
	nruns     int        // control runs waiting
	ctrl      []byte     // encoded control packets for the attached connection
	inflight  []inflight // in the order sent, from ihead on (acks come mostly in that order)
	ihead     int
	nextID    uint16
	idSeq     uint64                 // packet ids tried so far (see newIDLocked)
	inQoS2    map[uint16]*pendingPub // QoS 2 publishes received, PUBREL not yet
	recent    [8]engine.ID           // recently queued live messages: one copy per client
	recentN   int
	expiry    *time.Timer
	gone      bool // destroyed
	discarded bool // replaced by a clean session: destroyed when its connection ends
	loading   bool // being restored from the session file: no retained replay

	awaySince time.Time     // when the client went away; zero while connected
	room      chan struct{} // closed when the writer makes room in the queue
	slow      bool          // a publisher waited SlowTimeout in vain: drop, do not wait
}

func newSession(srv *Server, id string, clean bool) (*session, error) {
	s := &session{srv: srv, id: id, clean: clean, subs: make(map[string]*subEntry)}
	ec, err := srv.e.Connect(engine.ConnOptions{Trusted: srv.opts.PlainTopics, Data: s})
	if err != nil {
		return nil, err
	}
	s.ec = ec
	return s, nil
}

// enqueue queues a message for the client (or keeps it while the client is
// away). When the queue of a connected client is full, the publisher waits
// for room, at most Options.SlowTimeout, after which the client is marked
// slow and its messages are dropped without waiting until its writer makes
// room again (the engine's Block policy). For an absent client, QoS 0
// messages are dropped and QoS 1/2 ones beyond the bound too.
//
// pub is the network connection whose publish is being delivered, if any;
// the call runs on its read goroutine.
func (s *session) enqueue(o outMsg, pub *conn) {
	s.mu.Lock()
	if s.gone || (s.loading && o.retain) {
		s.mu.Unlock()
		return
	}
	if !o.retain {
		// One copy per client when several subscriptions match: the
		// highest QoS wins if the first copy is still queued.
		for i := range min(s.recentN, len(s.recent)) {
			if s.recent[i] == o.m.ID {
				for j := len(s.queue) - 1; j >= s.head && j >= len(s.queue)-64; j-- {
					// By ID: a copy kept for a client that is away is
					// not o.m itself. Control runs have no message.
					if q := &s.queue[j]; q.m != nil && q.m.ID == o.m.ID && q.qos < o.qos {
						q.qos = o.qos
					}
				}
				s.mu.Unlock()
				return
			}
		}
		s.recent[s.recentN%len(s.recent)] = o.m.ID
		s.recentN++
	}
	if s.conn == nil && o.qos == mqtt.AtMostOnce {
		s.mu.Unlock()
		s.srv.dropped.Add(1)
		return
	}
	if s.nmsgs >= s.srv.opts.MaxQueued && !s.waitRoomLocked() {
		s.mu.Unlock()
		s.srv.dropped.Add(1)
		return
	}
	if s.conn == nil {
		// Kept for a client that is away, perhaps for long: a copy of its
		// own, not one that holds on to the engine's shared blocks (see
		// engine.Message).
		o.m = o.m.Clone()
	}
	s.growQueueLocked()
	s.queue = append(s.queue, o)
	s.nmsgs++
	if c := s.conn; c != nil && !s.writing && c.tc != nil && pub != nil && !pub.r.Complete() {
		// The publisher has nothing more buffered: this message ends its
		// burst. Its goroutine writes it when Publish returns (after every
		// matching subscription has had its say on the QoS), without
		// blocking, instead of a writer goroutine (see flushInline).
		s.writing = true
		pub.pending = append(pub.pending, pendingFlush{s, c})
		s.mu.Unlock()
		return
	}
	s.kickLocked()
	s.mu.Unlock()
}

// waitRoomLocked waits, for a message to a connected client that is not
// marked slow, until the queue has room or SlowTimeout has passed. It
// reports whether there is room. s.mu is released while waiting.
func (s *session) waitRoomLocked() bool {
	if s.conn == nil || s.slow {
		return false
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for s.nmsgs >= s.srv.opts.MaxQueued {
		if s.conn == nil || s.gone || s.slow {
			return false
		}
		if timer == nil {
			timer = time.NewTimer(s.srv.opts.SlowTimeout)
		}
		if s.room == nil {
			s.room = make(chan struct{})
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
			s.mu.Lock()
		case <-timer.C:
			s.mu.Lock()
			if s.nmsgs >= s.srv.opts.MaxQueued {
				s.slow = true
				return false
			}
		}
	}
	return true
}

// roomLocked wakes publishers waiting for room in the queue, and ends a
// slow episode.
func (s *session) roomLocked() {
	s.slow = false
	if s.room != nil {
		close(s.room)
		s.room = nil
	}
}

// sendCtrl queues encoded control packets for the attached connection.
// It reports false when the connection has let too many pile up (it is
// closed then).
func (s *session) sendCtrl(c *conn, b []byte) bool {
	ok, _ := s.queueCtrl(c, b, false)
	return ok
}

// queueCtrl is sendCtrl. With inline (from c's read goroutine when c can be
// written inline), it takes the writer role itself if no writer runs, and
// reports flush: the caller then calls c.flushInline(s).
func (s *session) queueCtrl(c *conn, b []byte, inline bool) (ok, flush bool) {
	s.mu.Lock()
	if s.conn != c {
		s.mu.Unlock()
		return true, false
	}
	if len(s.ctrl)+len(b) > s.srv.opts.MaxPending {
		s.mu.Unlock()
		c.nc.Close()
		return false, false
	}
	if n := len(s.queue); n > s.head && s.queue[n-1].m == nil && int(s.queue[n-1].ctrl+s.queue[n-1].nctrl) == len(s.ctrl) {
		s.queue[n-1].nctrl += int32(len(b)) // extend the last run
	} else {
		s.growQueueLocked()
		s.queue = append(s.queue, outMsg{ctrl: int32(len(s.ctrl)), nctrl: int32(len(b))})
		s.nruns++
	}
	s.ctrl = append(s.ctrl, b...)
	if inline && !s.writing {
		s.writing = true
		s.mu.Unlock()
		return true, true
	}
	s.kickLocked()
	s.mu.Unlock()
	return true, false
}

// kickLocked starts the writer goroutine if there is a connection and none
// is running.
func (s *session) kickLocked() {
	if s.conn == nil || s.writing {
		return
	}
	s.writing = true
	c := s.conn
	// The attached connection's read loop is running, so the server's
	// WaitGroup is above zero: Shutdown waits for this writer too.
	s.srv.wg.Add(1)
	go c.writeLoop(s)
}

// takeLocked moves what can be sent now into the writer's batch, in queue
// order: every control run, and the messages up to the first QoS 1/2 one
// that does not fit the in-flight window (packet ids assigned and in-flight
// records made). Control runs behind a blocked message still go, so that
// acknowledgements never wait for the client's. The control bytes are taken
// with the batch: the caller swaps s.ctrl out. It also returns roughly how
// many bytes the batch's messages take.
func (s *session) takeLocked(batch []inflight) ([]inflight, int) {
	max := s.srv.opts.MaxInflight
	size := 0 // bytes of the messages taken, roughly
	q := s.queue[s.head:]
	i := 0
	for ; i < len(q); i++ {
		o := q[i]
		if o.m == nil {
			batch = append(batch, inflight{outMsg: o})
			s.nruns--
			continue
		}
		if size >= maxBatchBytes || (o.qos > mqtt.AtMostOnce && len(s.inflight)-s.ihead >= max) {
			break
		}
		f := inflight{outMsg: o}
		if o.qos > mqtt.AtMostOnce {
			f.id = s.newIDLocked()
			f.seq = s.idSeq
			if len(s.inflight) == cap(s.inflight) {
				s.growInflightLocked()
			}
			s.inflight = append(s.inflight, f)
		}
		batch = append(batch, f)
		s.nmsgs--
		size += len(o.m.Payload) + len(o.m.Channel) + 8
	}
	clear(q[:i])
	s.head += i
	if i > 0 {
		s.roomLocked()
	}
	if s.nruns > 0 {
		// Control runs behind the first message that must wait: they go
		// now, the messages keep their order.
		rest := s.queue[s.head:]
		n := 0
		for _, o := range rest {
			if o.m == nil {
				batch = append(batch, inflight{outMsg: o})
				continue
			}
			rest[n] = o
			n++
		}
		clear(rest[n:])
		s.queue = s.queue[:s.head+n]
		s.nruns = 0
	}
	switch {
	case s.head == len(s.queue):
		// Do not keep a burst's worth of memory in the session; lend it
		// to the next session that fills up (its items are cleared).
		s.queue, s.head = release(s.queue, keptQueueCap, &queuePool), 0
	case s.head > cap(s.queue)/2:
		s.compactLocked()
	}
	return batch, size
}

// growQueueLocked gives a full queue that has outgrown the kept capacity a
// larger array from queuePool, if one is there, before an append.
func (s *session) growQueueLocked() {
	if len(s.queue) == cap(s.queue) {
		s.queue = grow(s.queue, keptQueueCap, &queuePool)
	}
}

// growInflightLocked makes room in a full in-flight list before an append:
// it moves the entries in flight to the front when acknowledged ones
// occupy the start, or else, past the kept capacity, takes a larger list
// from inflightPool if one is there.
func (s *session) growInflightLocked() {
	if s.ihead > 0 {
		n := copy(s.inflight, s.inflight[s.ihead:])
		clear(s.inflight[n:])
		s.inflight, s.ihead = s.inflight[:n], 0
		return
	}
	s.inflight = grow(s.inflight, keptInflightCap, &inflightPool)
}

// compactLocked moves the waiting items to the front of the queue.
func (s *session) compactLocked() {
	if s.head == 0 {
		return
	}
	n := copy(s.queue, s.queue[s.head:])
	clear(s.queue[n:])
	s.queue, s.head = s.queue[:n], 0
}

// newIDLocked returns a packet id not in flight. Ids are tried in turn and
// the in-flight list is in the order they were handed out, so every id in
// flight is one of those tried since the oldest was handed out: while that
// is fewer than 65535, the next id cannot be in flight and nothing is
// searched (with MaxInflight 256, searching was 256 comparisons a message).
func (s *session) newIDLocked() uint16 {
	for {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		s.idSeq++
		if s.ihead == len(s.inflight) || s.idSeq-s.inflight[s.ihead].seq < 65535 {
			return s.nextID
		}
		used := false
		for i := s.ihead; i < len(s.inflight); i++ {
			if s.inflight[i].id == s.nextID {
				used = true
				break
			}
		}
		if !used {
			return s.nextID
		}
	}
}

// ack handles acknowledgements of type t (PUBACK, PUBREC or PUBCOMP) from
// the client, for the packet ids in ids, under one lock: a client acking a
// burst sends runs of them (see mqtt.Reader.ReadAcks). An id not in flight,
// or not for that type, is ignored.
func (s *session) ack(t mqtt.Type, ids []uint16) {
	s.mu.Lock()
	freed := false
	for _, id := range ids {
		freed = s.ackLocked(t, id) || freed
	}
	if freed && len(s.queue) > s.head {
		s.kickLocked()
	}
	s.mu.Unlock()
}

// ackLocked handles one acknowledgement and reports whether it ended an
// exchange (freeing a place in the in-flight window). The client sends
// acknowledgements in the order it received the messages (MQTT-4.6.0-2),
// so the one acknowledged is normally the oldest in flight.
func (s *session) ackLocked(t mqtt.Type, id uint16) bool {
	for i := s.ihead; i < len(s.inflight); i++ {
		f := &s.inflight[i]
		if f.id != id {
			continue
		}
		switch {
		case t == mqtt.Puback && f.qos == mqtt.AtLeastOnce,
			t == mqtt.Pubcomp && f.qos == mqtt.ExactlyOnce:
			if i == s.ihead { // the oldest: no shifting
				*f = inflight{}
				s.ihead++
				if s.ihead == len(s.inflight) {
					// As for queues: do not keep a burst's window.
					s.inflight, s.ihead = release(s.inflight, keptInflightCap, &inflightPool), 0
				}
			} else {
				copy(s.inflight[i:], s.inflight[i+1:])
				s.inflight[len(s.inflight)-1] = inflight{}
				s.inflight = s.inflight[:len(s.inflight)-1]
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

// attach makes c the session's connection and returns what must be sent
// before anything else: the inflight messages again (DUP set) and PUBRELs.
// The caller writes them after the CONNACK, then calls attached.
func (s *session) attach(c *conn, buf []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.conn = c
	s.awaySince = time.Time{}
	s.writing = true // hold the writer until the CONNACK is out
	s.dropCtrlLocked()
	for i := s.ihead; i < len(s.inflight); i++ {
		f := &s.inflight[i]
		if f.rel {
			buf = mqtt.AppendAck(buf, mqtt.Pubrel, f.id)
			continue
		}
		buf, _ = mqtt.AppendPublish(buf, f.topic(), f.m.Payload, f.qos, f.id, true, f.retain)
	}
	return buf
}

// dropCtrlLocked forgets queued control packets (they were for a
// connection that is gone).
func (s *session) dropCtrlLocked() {
	s.compactLocked()
	s.nruns = 0
	n := 0
	for _, o := range s.queue {
		if o.m != nil {
			s.queue[n] = o
			n++
		}
	}
	clear(s.queue[n:])
	s.queue = s.queue[:n]
	s.ctrl = s.ctrl[:0]
}

// attached releases the writer after the CONNACK has been written.
func (s *session) attached(c *conn) {
	s.mu.Lock()
	if s.conn == c {
		s.writing = false
		if len(s.queue) > s.head {
			s.kickLocked()
		}
	}
	s.mu.Unlock()
}

// detach forgets c if it is still the session's connection. A persistent
// session is kept (until SessionExpiry); a clean one is destroyed.
func (s *session) detach(c *conn) {
	s.mu.Lock()
	if s.conn != c {
		s.mu.Unlock()
		return
	}
	s.conn = nil
	s.awaySince = time.Now()
	s.roomLocked() // waiting publishers re-check: the client is away
	// Queued QoS 0 messages are not kept for an absent client.
	s.compactLocked()
	s.nruns = 0
	n := 0
	for _, o := range s.queue {
		if o.m != nil && o.qos > mqtt.AtMostOnce {
			s.queue[n] = o
			n++
		}
	}
	clear(s.queue[n:])
	s.queue = s.queue[:n]
	s.nmsgs = n
	s.ctrl = nil
	clean := s.clean || s.discarded
	if !clean {
		// Kept while the client is away, perhaps for long: copies of their
		// own, as enqueue makes from now on (see engine.Message).
		for i := range s.queue {
			s.queue[i].m = s.queue[i].m.Clone()
		}
		for i := s.ihead; i < len(s.inflight); i++ {
			if m := s.inflight[i].m; m != nil {
				s.inflight[i].m = m.Clone()
			}
		}
	}
	if !clean && s.srv.opts.SessionExpiry > 0 && !s.gone {
		s.expiry = time.AfterFunc(s.srv.opts.SessionExpiry, s.expire)
	}
	s.mu.Unlock()
	if clean {
		s.srv.removeSession(s)
		s.destroy()
	}
}

// expire drops a persistent session whose client stayed away too long.
func (s *session) expire() {
	s.mu.Lock()
	away := s.conn == nil && !s.gone
	s.mu.Unlock()
	if away && s.srv.removeSession(s) {
		s.destroy()
	}
}

// destroy ends the session's subscriptions and drops its messages. It is
// idempotent.
func (s *session) destroy() {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return
	}
	s.gone = true
	s.roomLocked()
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.queue, s.inflight, s.ctrl, s.nmsgs, s.head, s.nruns, s.ihead = nil, nil, nil, 0, 0, 0, 0
	s.mu.Unlock()
	_ = s.ec.Close()
}

// removeSession removes s from the server's table if it is still there.
func (srv *Server) removeSession(s *session) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
		return true
	}
	return false
}

// subscribe adds or replaces the session's subscription to filter. The
// engine replays retained (and, for Emitter, stored) messages through the
// handler before it returns.
func (s *session) subscribe(ctx context.Context, filter, channel, key string, plain bool, qos mqtt.QoS, opts ...engine.Option) error {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	old := s.subs[filter]
	e := &subEntry{sess: s, filter: filter, plain: plain, channel: channel, key: key}
	e.qos.Store(uint32(qos))
	if old != nil {
		// The replaced subscription keeps delivering until the new one is
		// in place; the session queues one copy of each message.
		old.qos.Store(uint32(qos))
	}
	sub, err := s.ec.Subscribe(ctx, channel, e.handle, opts...)
	if err != nil {
		return err
	}
	e.sub = sub
	s.subs[filter] = e
	if old != nil {
		_ = old.sub.Unsubscribe()
	}
	return nil
}

// unsubscribe removes the session's subscription to filter, if any.
func (s *session) unsubscribe(filter string) {
	s.subMu.Lock()
	e := s.subs[filter]
	delete(s.subs, filter)
	s.subMu.Unlock()
	if e != nil {
		_ = e.sub.Unsubscribe()
	}
}
