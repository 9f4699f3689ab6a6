package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

// This file attaches message history to the publish and subscribe paths.
// The hooks elsewhere:
//   - Options.Store selects the store (nil: no history, no retained messages);
//   - Conn.Publish calls persist before delivering the message;
//   - Conn.Subscribe calls beginReplay before the subscription becomes visible
//     to publishers, and replay once it is;
//   - Subscription.deliver holds live messages while a replay is running;
//   - Engine.Close calls closeHistory last.
//
// Replay without loss or duplication: beginReplay gives the subscription a
// replayBuffer before it is inserted in the trie, so every live message that
// reaches it from then on is held. replay then reads the store (retained
// messages and the history the subscriber asked for), delivers those oldest
// to newest, and releases the held live messages, skipping those it has just
// delivered from the store. Publish stores a message before it looks up
// subscribers, so a message either was stored before the query (the replay
// delivers it; its live copy, held or arriving later, is dropped) or reaches
// the subscription live (held, or delivered after the replay): none is lost,
// none is delivered twice. The duplicate test is by ID, not "ID <= the newest
// replayed ID", because two concurrent publishers may store their messages
// out of ID order, and it stays on after the replay, because a live copy can
// arrive after the replay has ended.

// persist stores m when it has a TTL or is retained. It returns once the
// store has the message (for store.Bolt: committed and synced).
func (e *Engine) persist(ctx context.Context, c *Conn, m *Message, co *callOptions) error {
	st := e.opts.Store
	if st == nil {
		return nil
	}
	withTTL := co.has&hasTTL != 0 && co.ttl > 0
	retain := co.has&hasRetain != 0
	if !withTTL && !retain {
		return nil
	}
	sid := m.ID
	var expires int64
	if withTTL {
		// Clamp before converting: ttl is seconds from outside input.
		ttl := store.MaxTTL
		if co.ttl < int64(store.MaxTTL/time.Second) {
			ttl = time.Duration(co.ttl) * time.Second
		}
		m.TTL = ttl
		var err error
		if expires, err = store.ExpiresAfter(sid, ttl); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
	}
	var buf [2]store.Message
	msgs := buf[:0]
	if withTTL {
		msgs = append(msgs, store.Message{ID: sid, Channel: m.Channel, Payload: m.Payload, Expires: expires})
	}
	if retain {
		// A retained message with a TTL expires with it.
		msgs = append(msgs, store.Message{ID: sid, Channel: m.Channel, Payload: m.Payload, Expires: expires, Retained: true})
	}
	if err := st.Store(ctx, msgs...); err != nil {
		if errors.Is(err, store.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("engine: store message: %w", err)
	}
	return nil
}

// replayBuffer holds the live messages of a subscription while its replay
// runs, and afterwards drops the live copies of replayed messages. Its held
// slice is bounded by what is published to the subscription during one store
// query; seen holds at most the store's MaxResults IDs plus the retained ones.
type replayBuffer struct {
	done atomic.Bool
	mu   sync.Mutex
	held []*Message
	seen []ID // IDs delivered by the replay, sorted; immutable once done
}

// hold reports whether m must not be delivered now: it is kept for the end of
// the replay, or the replay has delivered it already. It runs on the
// publisher's goroutine (Subscription.deliver).
//
// A replayed message can arrive live after the replay has ended: Publish
// stores a message before it looks up subscribers, and a replay can run
// entirely in between. So the IDs stay checked, at the cost of one comparison
// for any message newer than every replayed one.
func (r *replayBuffer) hold(m *Message) bool {
	if !r.done.Load() {
		r.mu.Lock()
		if !r.done.Load() {
			r.held = append(r.held, m)
			r.mu.Unlock()
			return true
		}
		r.mu.Unlock()
	}
	return r.replayed(m.ID)
}

// replayed reports whether the replay delivered id.
func (r *replayBuffer) replayed(id ID) bool {
	n := len(r.seen)
	if n == 0 || bytes.Compare(id[:], r.seen[n-1][:]) > 0 {
		return false
	}
	_, found := slices.BinarySearchFunc(r.seen, id, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return found
}

// isShare reports whether filter is a share-group subscription, which gets
// neither history nor retained messages (MQTT 5 sends no retained messages to
// shared subscriptions; Emitter's history query for "$share/..." matches
// nothing).
func isShare(filter string) bool { return strings.HasPrefix(filter, "$share/") }

// beginReplay prepares s for a replay; Subscribe calls it before s is
// inserted in the trie.
func (e *Engine) beginReplay(s *Subscription, ch *security.Channel, co *callOptions) error {
	if e.opts.Store == nil || isShare(ch.Path) || co.noLoad { // noLoad: auth.go
		return nil
	}
	if co.has&hasLast != 0 && co.last < 0 {
		return ErrInvalidOption
	}
	s.replay.Store(&replayBuffer{})
	return nil
}

// historyQuery returns the store query for the subscribe options, and false
// when the subscriber asked for no history.
func (e *Engine) historyQuery(filter string, co *callOptions) (store.Query, bool) {
	q := store.Query{Filter: filter, Matching: e.opts.Matching}
	want := false
	if co.has&hasLast != 0 {
		if co.last == 0 {
			return q, false // Emitter: last=0 turns replay off
		}
		q.Last = int(min(co.last, math.MaxInt32))
		want = true
	}
	// Emitter's from/until are unix seconds, inclusive; 0 means unset.
	if co.has&hasFrom != 0 && co.from > 0 {
		q.From = time.Unix(co.from, 0)
		want = true
	}
	if co.has&hasUntil != 0 && co.until > 0 {
		q.Until = time.Unix(co.until, 0).Add(time.Second - 1)
		want = true
	}
	if want && q.Last == 0 {
		q.Last = math.MaxInt32 // the newest of the window, up to the store's clamp
	}
	return q, want
}

// replay delivers the retained messages matching s and the history asked for
// in co, oldest to newest, then the live messages held meanwhile.
func (e *Engine) replay(ctx context.Context, s *Subscription, ch *security.Channel, co *callOptions) error {
	r := s.replay.Load()
	if r == nil {
		return nil
	}
	seen, err := e.deliverStored(ctx, s, co)
	r.seen = seen
	// Release the held live messages, skipping what the store delivered. New
	// live messages keep being held until a pass finds none.
	for {
		r.mu.Lock()
		held := r.held
		r.held = nil
		if len(held) == 0 || err != nil {
			r.done.Store(true)
			if len(seen) == 0 {
				s.replay.Store(nil) // nothing to filter: back to the plain path
			}
			r.mu.Unlock()
			return err
		}
		r.mu.Unlock()
		for _, m := range held {
			if !r.replayed(m.ID) {
				s.deliverNow(ctx, m)
			}
		}
	}
}

// deliverStored delivers the stored messages for a new subscription and
// returns their IDs, sorted.
func (e *Engine) deliverStored(ctx context.Context, s *Subscription, co *callOptions) ([]ID, error) {
	st := e.opts.Store
	var stored []store.Message
	if q, ok := e.historyQuery(s.channel, co); ok {
		msgs, err := st.Query(ctx, q)
		if err != nil {
			return nil, storeError(err)
		}
		stored = msgs
	}
	// An explicit last=0 asks for no stored message at all, the retained one
	// included (Emitter's meaning); without last, the retained message comes
	// (MQTT's).
	if co.has&hasLast == 0 || co.last != 0 {
		err := st.Retained(ctx, s.channel, e.opts.Matching, func(m store.Message) error {
			stored = append(stored, m)
			return nil
		})
		if err != nil {
			return nil, storeError(err)
		}
	}
	if len(stored) == 0 {
		return nil, nil
	}
	// One publish order for history and retained messages; a message that is
	// both is delivered once, marked retained.
	slices.SortStableFunc(stored, func(a, b store.Message) int { return a.ID.Compare(b.ID) })
	seen := make([]ID, 0, len(stored))
	for i := range stored {
		sm := &stored[i]
		id := sm.ID
		if len(seen) > 0 && seen[len(seen)-1] == id {
			continue
		}
		seen = append(seen, id)
		m := &Message{ID: id, Channel: sm.Channel, Payload: sm.Payload, Retained: sm.Retained}
		if i+1 < len(stored) && stored[i+1].ID == sm.ID && stored[i+1].Channel == sm.Channel {
			m.Retained = m.Retained || stored[i+1].Retained
		}
		if sm.Expires != 0 {
			m.TTL = time.Duration(sm.Expires - sm.ID.UnixNano()).Truncate(time.Second)
		}
		s.deliverNow(ctx, m)
	}
	return seen, nil
}

// storeError maps store errors to the engine's.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrClosed):
		return ErrClosed
	case errors.Is(err, store.ErrInvalidQuery), errors.Is(err, topic.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return fmt.Errorf("engine: history: %w", err)
}

// closeHistory closes the store, which commits what is queued and stops its
// sweeper. Engine.Close calls it last.
func (e *Engine) closeHistory() error {
	if e.opts.Store == nil {
		return nil
	}
	if err := e.opts.Store.Close(); err != nil {
		return fmt.Errorf("engine: close store: %w", err)
	}
	return nil
}

// History returns stored messages of channel without subscribing, oldest to
// newest. channel is an Emitter channel, or a filter such as "a/+/" (a plain
// MQTT topic with PlainTopic), optionally with the options last, from and
// until ("a/b/?last=10"); options passed as arguments override those in the
// string. WithLast(n) returns the n newest of the selected messages (with
// WithAfter, the n oldest after the given message, which is how pages are
// read forward); without it, up to the store's maximum; last=0, as for
// Subscribe, asks for none. A response is also
// capped by the store's byte budget (store.Options.MaxResponseBytes). An
// untrusted connection needs a key with l (load). Without a store, there is
// no history: the result is empty.
//
// The messages are the caller's own: they share no memory with other
// messages, and their From is nil.
func (c *Conn) History(ctx context.Context, channel string, opts ...HistoryOption) ([]*Message, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	var co callOptions
	co.applyHistory(opts)
	ch, err := co.channel(channel, true)
	if err != nil {
		return nil, err
	}
	if co.has&hasLast != 0 && co.last < 0 {
		return nil, ErrInvalidOption
	}
	e := c.e
	if err := e.authorize(c, opHistory, &ch, &co); err != nil {
		return nil, err
	}
	st := e.opts.Store
	if st == nil || co.has&hasLast != 0 && co.last == 0 {
		return nil, nil
	}
	q := store.Query{Filter: ch.Path, Matching: e.opts.Matching}
	if co.has&hasFrom != 0 && co.from > 0 {
		q.From = time.Unix(co.from, 0)
	}
	if co.has&hasUntil != 0 && co.until > 0 {
		q.Until = time.Unix(co.until, 0).Add(time.Second - 1)
	}
	n := 0
	if co.has&hasLast != 0 {
		n = int(min(co.last, math.MaxInt32))
	}
	if co.has&hasAfter != 0 {
		q.After, q.Limit = co.after, n // forward from the given message
	} else {
		q.Last = n
		if n == 0 {
			q.Last = math.MaxInt32 // the newest, up to the store's clamp
		}
	}
	stored, err := st.Query(ctx, q)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]*Message, len(stored))
	for i := range stored {
		sm := &stored[i]
		out[i] = &Message{ID: sm.ID, Channel: sm.Channel, Payload: sm.Payload}
	}
	return out, nil
}
