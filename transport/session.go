package transport

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/transport/mqtt"
)

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

// handle is the subscription's engine handler. It is an Inline one, run on
// the publishing goroutine (or the subscribing one, for live messages the
// engine held during the subscription's replay), so it only queues.
func (e *subEntry) handle(m *engine.Message) {
	if m.Retained && e.sess.loading.Load() {
		return // a resumed session does not get retained messages again
	}
	// A message a network client published (through its session's engine
	// Conn) is delivered at the lower of its QoS and the subscription's, and
	// the publisher's connection may write to idle subscribers itself;
	// messages published in-process or replayed go at the subscription's.
	qos := mqtt.QoS(e.qos.Load())
	var pub *publisher
	if ps := sessionOf(m); ps != nil {
		pub = ps.publishing.Load()
		qos = min(qos, mqtt.QoS(m.QoS))
	}
	e.sess.out.enqueue(outMsg{m: m, qos: qos, plain: e.plain, retain: m.Retained}, pub)
}

// sessionOf returns the session whose client published m, nil for a
// message published in-process or replayed from the store. It is the
// transport's one use of Message.From.
func sessionOf(m *engine.Message) *session {
	ps, _ := m.From().Data().(*session)
	return ps
}

// session is the state MQTT keeps for a client id: subscriptions, what is
// queued for the client or in flight (its outbox), and QoS 2 messages
// received and not yet released. A persistent session outlives its network
// connections.
type session struct {
	srv   *Server
	id    string
	clean bool
	ec    *engine.Conn

	publishing atomic.Pointer[publisher] // open for a publish through ec, if any
	loading    atomic.Bool               // being restored from the session file: no retained replay

	out outbox

	subMu sync.Mutex // guards subs; handlers never wait for it
	subs  map[string]*subEntry

	// mu guards the fields below. Taken with out.mu, it is taken first.
	mu        sync.Mutex
	inQoS2    map[uint16]*pendingPub // QoS 2 publishes received, PUBREL not yet
	expiry    *time.Timer
	awaySince time.Time // when the client went away; zero while connected
	gone      bool      // destroyed
	discarded bool      // replaced by a clean session: destroyed when its connection ends
}

func newSession(srv *Server, id string, clean bool) (*session, error) {
	s := &session{srv: srv, id: id, clean: clean, subs: make(map[string]*subEntry)}
	s.out.srv = srv
	ec, err := srv.e.Connect(engine.ConnOptions{Trusted: srv.opts.PlainTopics, Data: s})
	if err != nil {
		return nil, err
	}
	s.ec = ec
	return s, nil
}

// takeOver is called, under the server's lock, when a new connection claims
// the session's client id; resume is its CleanSession 0. It returns the
// connection attached now, which the caller closes, and whether the session
// goes on with the new connection. One that does not is destroyed: by the
// caller when no connection is attached (destroy), otherwise by that
// connection when it ends, after publishing its will through the session.
func (s *session) takeOver(resume bool) (prev *conn, kept, destroy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev = s.out.connection()
	if resume && !s.clean {
		return prev, true, false
	}
	if prev != nil {
		s.discarded = true
		return prev, false, false
	}
	return nil, false, true
}

// attach makes c the session's connection and returns buf with what must
// be sent before anything else (see outbox.attach).
func (s *session) attach(c *conn, buf []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.awaySince = time.Time{}
	return s.out.attach(c, buf)
}

// detach forgets c if it is still the session's connection. A persistent
// session is kept (until SessionExpiry); a clean one is destroyed.
func (s *session) detach(c *conn) {
	s.mu.Lock()
	keep := !s.clean && !s.discarded
	if !s.out.detach(c, keep) {
		s.mu.Unlock()
		return
	}
	s.awaySince = time.Now()
	if keep && s.srv.opts.SessionExpiry > 0 && !s.gone {
		s.expiry = time.AfterFunc(s.srv.opts.SessionExpiry, s.expire)
	}
	s.mu.Unlock()
	if !keep {
		s.srv.removeSession(s)
		s.destroy()
	}
}

// expire drops a persistent session whose client stayed away too long.
func (s *session) expire() {
	s.mu.Lock()
	away := !s.gone && s.out.connection() == nil
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
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.out.close()
	s.mu.Unlock()
	_ = s.ec.Close()
}

// holdQoS2 keeps a QoS 2 message received with packet id id until its
// PUBREL; a message sent again with the same id is ignored. At most
// Options.QueueSize are kept.
func (s *session) holdQoS2(id uint16, topic, payload []byte, retain bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.inQoS2[id]; dup {
		return nil
	}
	if len(s.inQoS2) >= s.srv.opts.QueueSize {
		return errTooManyQoS2
	}
	if s.inQoS2 == nil {
		s.inQoS2 = make(map[uint16]*pendingPub)
	}
	s.inQoS2[id] = &pendingPub{topic: string(topic), payload: bytes.Clone(payload), retain: retain}
	return nil
}

// releaseQoS2 returns and forgets the QoS 2 message held with packet id id,
// nil if there is none.
func (s *session) releaseQoS2(id uint16) *pendingPub {
	s.mu.Lock()
	defer s.mu.Unlock()
	pp := s.inQoS2[id]
	delete(s.inQoS2, id)
	return pp
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
func (s *session) subscribe(ctx context.Context, filter, channel, key string, plain bool, qos mqtt.QoS, opts ...engine.SubscribeOption) error {
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
