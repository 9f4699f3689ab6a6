package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/internal/fsutil"
	"github.com/heraldmq/herald/transport/mqtt"
)

// The engine's store keeps messages, not MQTT sessions, so the transport
// keeps persistent sessions in a file of its own (Options.SessionFile): a JSON
// document written atomically on Shutdown and read, then removed, by New. A
// crash between the two loses the sessions since the last clean shutdown, not
// the messages the store holds.

type savedFile struct {
	Version  int            `json:"version"`
	Saved    time.Time      `json:"saved"`
	Sessions []savedSession `json:"sessions"`
}

type savedSession struct {
	ID       string        `json:"id"`
	Away     time.Time     `json:"away"` // when the client went away
	NextID   uint16        `json:"next_id"`
	Subs     []savedSub    `json:"subs"`
	Queue    []savedMsg    `json:"queue,omitempty"`
	Inflight []savedMsg    `json:"inflight,omitempty"`
	InQoS2   []savedInQoS2 `json:"in_qos2,omitempty"`
}

type savedSub struct {
	Filter  string `json:"filter"`
	Channel string `json:"channel"`
	Key     string `json:"key,omitempty"`
	Plain   bool   `json:"plain,omitempty"`
	QoS     byte   `json:"qos"`
}

type savedMsg struct {
	PacketID uint16    `json:"packet_id,omitempty"`
	Rel      bool      `json:"rel,omitempty"`
	ID       engine.ID `json:"id"`
	Channel  string    `json:"channel,omitempty"`
	Payload  []byte    `json:"payload,omitempty"`
	QoS      byte      `json:"qos"`
	Plain    bool      `json:"plain,omitempty"`
	Retain   bool      `json:"retain,omitempty"`
}

type savedInQoS2 struct {
	PacketID uint16 `json:"packet_id"`
	Topic    string `json:"topic"`
	Payload  []byte `json:"payload,omitempty"`
	Retain   bool   `json:"retain,omitempty"`
}

// saveSessions writes the persistent sessions to Options.SessionFile. It
// runs in Shutdown once every connection has ended.
func (s *Server) saveSessions() error {
	now := time.Now()
	f := savedFile{Version: 1, Saved: now}
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		if ss.clean {
			continue
		}
		sv := savedSession{ID: ss.id, Away: now}
		ss.subMu.Lock()
		for _, e := range ss.subs {
			sv.Subs = append(sv.Subs, savedSub{Filter: e.filter, Channel: e.channel, Key: e.key, Plain: e.plain, QoS: byte(e.qos.Load())})
		}
		ss.subMu.Unlock()
		ss.mu.Lock()
		if ss.gone {
			ss.mu.Unlock()
			continue
		}
		if !ss.awaySince.IsZero() {
			sv.Away = ss.awaySince
		}
		for id, pp := range ss.inQoS2 {
			sv.InQoS2 = append(sv.InQoS2, savedInQoS2{PacketID: id, Topic: pp.topic, Payload: pp.payload, Retain: pp.retain})
		}
		ss.mu.Unlock()
		inflight, queued, next := ss.out.contents()
		sv.NextID = next
		for _, o := range queued {
			sv.Queue = append(sv.Queue, saveMsg(o, 0, false))
		}
		for _, f := range inflight {
			sv.Inflight = append(sv.Inflight, saveMsg(f.outMsg, f.id, f.rel))
		}
		f.Sessions = append(f.Sessions, sv)
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(s.opts.SessionFile, b, 0o600)
}

func saveMsg(o outMsg, id uint16, rel bool) savedMsg {
	m := savedMsg{PacketID: id, Rel: rel, QoS: byte(o.qos), Plain: o.plain, Retain: o.retain}
	if o.m != nil {
		m.ID, m.Channel, m.Payload = o.m.ID, o.m.Channel, o.m.Payload
	}
	return m
}

// loadSessions reads Options.SessionFile, if it exists, recreates its
// sessions (subscribing again) and removes the file.
func (s *Server) loadSessions() error {
	b, err := os.ReadFile(s.opts.SessionFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f savedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("transport: session file %s: %w", s.opts.SessionFile, err)
	}
	if f.Version != 1 {
		return fmt.Errorf("transport: session file %s: unknown version %d", s.opts.SessionFile, f.Version)
	}
	now := time.Now()
	ctx := context.Background()
	for i := range f.Sessions {
		sv := &f.Sessions[i]
		if err := sv.check(); err != nil {
			// The file is ours, so this is damage: keep the rest.
			s.log.Warn("transport: session file: session dropped", "file", s.opts.SessionFile, "index", i, "err", err)
			continue
		}
		if s.sessions[sv.ID] != nil {
			s.log.Warn("transport: session file: duplicate session dropped", "file", s.opts.SessionFile, "client", sv.ID)
			continue
		}
		left := s.opts.SessionExpiry - now.Sub(sv.Away)
		if s.opts.SessionExpiry > 0 && left <= 0 {
			continue
		}
		ss, err := newSession(s, sv.ID, false)
		if err != nil {
			for _, ss := range s.sessions {
				ss.destroy()
			}
			clear(s.sessions)
			return fmt.Errorf("transport: session file %s: %w", s.opts.SessionFile, err)
		}
		// Subscribing replays retained messages; a resumed session must not
		// get them again.
		ss.loading.Store(true)
		for _, sub := range sv.Subs {
			opts := []engine.SubscribeOption{engine.Inline()}
			if sub.Plain {
				opts = append(opts, engine.PlainTopic())
			} else {
				opts = append(opts, engine.WithKey(sub.Key))
			}
			// Without options: a ?last= replay was done when the client
			// subscribed.
			channel, _, _ := strings.Cut(sub.Channel, "?")
			if err := ss.subscribe(ctx, sub.Filter, channel, sub.Key, sub.Plain, mqtt.QoS(sub.QoS), opts...); err != nil {
				s.log.Warn("transport: restore subscription", "client", sv.ID, "filter", sub.Filter, "err", err)
			}
		}
		ss.loading.Store(false)
		var queued []outMsg
		for _, m := range sv.Queue {
			queued = append(queued, loadMsg(m))
		}
		var inflights []inflight
		for _, m := range sv.Inflight {
			inflights = append(inflights, inflight{outMsg: loadMsg(m), id: m.PacketID, rel: m.Rel})
		}
		ss.out.restore(inflights, queued, sv.NextID)
		ss.mu.Lock()
		ss.awaySince = sv.Away
		for _, q := range sv.InQoS2 {
			if ss.inQoS2 == nil {
				ss.inQoS2 = make(map[uint16]*pendingPub)
			}
			ss.inQoS2[q.PacketID] = &pendingPub{topic: q.Topic, payload: q.Payload, retain: q.Retain}
		}
		if s.opts.SessionExpiry > 0 {
			ss.expiry = time.AfterFunc(left, ss.expire)
		}
		ss.mu.Unlock()
		s.sessions[sv.ID] = ss
	}
	return os.Remove(s.opts.SessionFile)
}

// check reports what makes sv something saveSessions cannot have written:
// what the server would otherwise send to the client as a malformed packet
// or trip over.
func (sv *savedSession) check() error {
	if sv.ID == "" || !mqtt.ValidString(sv.ID) {
		return fmt.Errorf("client id %q", sv.ID)
	}
	for i, sub := range sv.Subs {
		switch {
		case sub.QoS > byte(mqtt.ExactlyOnce):
			return fmt.Errorf("subscription %d: QoS %d", i, sub.QoS)
		case sub.Plain && (!mqtt.ValidTopicFilter(sub.Filter) || sub.Channel != sub.Filter+"/"):
			return fmt.Errorf("subscription %d: plain filter %q, channel %q", i, sub.Filter, sub.Channel)
		case !sub.Plain && (sub.Key == "" || !mqtt.ValidString(sub.Filter) || !strings.HasPrefix(sub.Filter, sub.Key+"/")):
			return fmt.Errorf("subscription %d: filter %q, key %q", i, sub.Filter, sub.Key)
		}
	}
	for i, m := range sv.Queue {
		if err := m.check(); err != nil {
			return fmt.Errorf("queued message %d: %w", i, err)
		}
		if m.PacketID != 0 || m.Rel {
			return fmt.Errorf("queued message %d: has a packet id", i)
		}
	}
	ids := make(map[uint16]bool, len(sv.Inflight))
	for i, m := range sv.Inflight {
		switch {
		case m.PacketID == 0 || ids[m.PacketID]:
			return fmt.Errorf("message in flight %d: packet id %d", i, m.PacketID)
		case m.QoS == byte(mqtt.AtMostOnce) || (m.Rel && m.QoS != byte(mqtt.ExactlyOnce)):
			return fmt.Errorf("message in flight %d: QoS %d", i, m.QoS)
		case !m.Rel:
			if err := m.check(); err != nil {
				return fmt.Errorf("message in flight %d: %w", i, err)
			}
		}
		ids[m.PacketID] = true
	}
	clear(ids)
	for i, q := range sv.InQoS2 {
		if q.PacketID == 0 || ids[q.PacketID] || !mqtt.ValidTopicName(q.Topic) {
			return fmt.Errorf("incoming QoS 2 message %d: packet id %d, topic %q", i, q.PacketID, q.Topic)
		}
		ids[q.PacketID] = true
	}
	return nil
}

// check reports what makes m unfit to be sent as a PUBLISH.
func (m *savedMsg) check() error {
	topic := m.Channel
	if m.Plain {
		var ok bool
		if topic, ok = strings.CutSuffix(topic, "/"); !ok {
			return fmt.Errorf("plain channel %q", m.Channel)
		}
	}
	if m.QoS > byte(mqtt.ExactlyOnce) || !mqtt.ValidTopicName(topic) {
		return fmt.Errorf("QoS %d, channel %q", m.QoS, m.Channel)
	}
	return nil
}

func loadMsg(m savedMsg) outMsg {
	o := outMsg{qos: mqtt.QoS(m.QoS), plain: m.Plain, retain: m.Retain}
	if !m.Rel {
		o.m = &engine.Message{ID: m.ID, Channel: m.Channel, Payload: m.Payload}
	}
	return o
}
