package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/internal/leaktest"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
	"github.com/stretchr/testify/require"
)

// historyStores runs fn against an engine with each store implementation.
func historyStores(t *testing.T, matcher topic.Mode, fn func(t *testing.T, e *engine.Engine, st store.Store)) {
	for _, kind := range []string{"memory", "bbolt"} {
		t.Run(kind, func(t *testing.T) {
			var st store.Store
			if kind == "memory" {
				st = store.NewMemory(store.Options{})
			} else {
				b, err := store.OpenBolt(filepath.Join(t.TempDir(), "h.db"), store.Options{NoSync: true})
				require.NoError(t, err)
				st = b
			}
			e, err := engine.New(engine.Options{Store: st, Matching: matcher})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, e.Close()) })
			fn(t, e, st)
		})
	}
}

func trustedConn(t testing.TB, e *engine.Engine) *engine.Conn {
	t.Helper()
	c, err := e.Connect(engine.ConnOptions{Trusted: true})
	require.NoError(t, err)
	return c
}

// next reads n messages from a pull subscription.
func next(t testing.TB, s *engine.Subscription, n int) []*engine.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*engine.Message
	for range n {
		m, err := s.Next(ctx)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

func payloads(ms []*engine.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Payload))
	}
	return out
}

func TestHistoryLastThenLive(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := context.Background()
		c := trustedConn(t, e)
		for i := range 10 {
			require.NoError(t, c.Publish(ctx, "h/a/", fmt.Appendf(nil, "s%d", i), engine.WithTTL(time.Hour)))
			require.NoError(t, c.Publish(ctx, "h/a/", fmt.Appendf(nil, "live%d", i))) // not stored
		}
		require.NoError(t, c.Publish(ctx, "h/a/b/?ttl=60", []byte("child"))) // Emitter prefix: a/ gets a/b/
		require.NoError(t, c.Publish(ctx, "other/?ttl=60", []byte("other")))

		s, err := c.Subscribe(ctx, "h/a/?last=4", nil)
		require.NoError(t, err)
		got := next(t, s, 4)
		require.Equal(t, []string{"s7", "s8", "s9", "child"}, payloads(got))
		require.Equal(t, time.Hour, got[0].TTL)
		require.Equal(t, "h/a/b/", got[3].Channel)
		require.True(t, slices.IsSortedFunc(got, func(a, b *engine.Message) int { return a.ID.Time().Compare(b.ID.Time()) }))

		require.NoError(t, c.Publish(ctx, "h/a/", []byte("after")))
		require.Equal(t, []string{"after"}, payloads(next(t, s, 1)))

		// last=0 or no option: no replay.
		s2, err := c.Subscribe(ctx, "h/a/?last=0", nil)
		require.NoError(t, err)
		s3, err := c.Subscribe(ctx, "h/a/", nil)
		require.NoError(t, err)
		require.NoError(t, c.Publish(ctx, "h/a/", []byte("x")))
		require.Equal(t, []string{"x"}, payloads(next(t, s2, 1)))
		require.Equal(t, []string{"x"}, payloads(next(t, s3, 1)))

		// A negative last is refused; a huge one is clamped by the store.
		_, err = c.Subscribe(ctx, "h/a/", nil, engine.WithLast(-1))
		require.ErrorIs(t, err, engine.ErrInvalidOption)
		s4, err := c.Subscribe(ctx, "h/a/", nil, engine.WithLast(1_000_000))
		require.NoError(t, err)
		require.Len(t, next(t, s4, 11), 11)
	})
}

func TestHistoryFromUntil(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := base
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	for _, kind := range []string{"memory", "bbolt"} {
		t.Run(kind, func(t *testing.T) {
			var st store.Store = store.NewMemory(store.Options{})
			if kind == "bbolt" {
				b, err := store.OpenBolt(filepath.Join(t.TempDir(), "h.db"), store.Options{NoSync: true})
				require.NoError(t, err)
				st = b
			}
			e, err := engine.New(engine.Options{Store: st, Clock: clock})
			require.NoError(t, err)
			defer e.Close()
			ctx := context.Background()
			c := trustedConn(t, e)
			for i := range 10 { // one message every 10 seconds, several per second
				mu.Lock()
				now = base.Add(time.Duration(i) * 10 * time.Second)
				mu.Unlock()
				for j := range 3 {
					require.NoError(t, c.Publish(ctx, "w/", fmt.Appendf(nil, "%d.%d", i, j), engine.WithTTL(100*365*24*time.Hour)))
				}
			}
			s, err := c.Subscribe(ctx, "w/", nil, engine.WithFrom(base.Add(20*time.Second)), engine.WithUntil(base.Add(40*time.Second)))
			require.NoError(t, err)
			require.Equal(t, []string{"2.0", "2.1", "2.2", "3.0", "3.1", "3.2", "4.0", "4.1", "4.2"}, payloads(next(t, s, 9)))
			s2, err := c.Subscribe(ctx, "w/", nil, engine.WithFrom(base.Add(80*time.Second)), engine.WithLast(2))
			require.NoError(t, err)
			require.Equal(t, []string{"9.1", "9.2"}, payloads(next(t, s2, 2)))
			_, err = c.Subscribe(ctx, "w/", nil, engine.WithFrom(base.Add(80*time.Second)), engine.WithUntil(base))
			require.ErrorIs(t, err, engine.ErrInvalidOption)
		})
	}
}

// TestHistoryNoLossNoDuplicate subscribes with replay while publishers run:
// every message whose Publish returned must reach every subscriber exactly
// once, the replayed ones first and in publish order.
func TestHistoryNoLossNoDuplicate(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := context.Background()
		const publishers, each, subscribers = 4, 200, 8 // 800 messages: within last=1000 and 64 KiB
		pubs := make([]*engine.Conn, publishers)
		for i := range pubs {
			pubs[i] = trustedConn(t, e)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				<-start
				for i := range each {
					err := pubs[p].Publish(ctx, fmt.Sprintf("nl/%d/", p), fmt.Appendf(nil, "%d/%d", p, i), engine.WithTTL(time.Hour))
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		type result struct {
			msgs []*engine.Message
			err  error
		}
		results := make([]chan result, subscribers)
		for k := range subscribers {
			results[k] = make(chan result, 1)
			sc := trustedConn(t, e)
			go func() {
				<-start
				for range k * 20 { // subscribe at different moments
					if err := sc.Publish(ctx, "noise/", nil); err != nil {
						results[k] <- result{err: err}
						return
					}
				}
				s, err := sc.Subscribe(ctx, "nl/", nil, engine.WithLast(1000))
				if err != nil {
					results[k] <- result{err: err}
					return
				}
				var got []*engine.Message
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				for len(got) < publishers*each {
					m, err := s.Next(cctx)
					if err != nil {
						results[k] <- result{msgs: got, err: err}
						return
					}
					got = append(got, m)
				}
				results[k] <- result{msgs: got}
			}()
		}
		close(start)
		wg.Wait()
		for k := range subscribers {
			r := <-results[k]
			require.NoError(t, r.err, "subscriber %d after %d messages", k, len(r.msgs))
			ids := map[engine.ID]bool{}
			perPublisher := make([]int, publishers)
			for _, m := range r.msgs {
				require.False(t, ids[m.ID], "subscriber %d: duplicate %s", k, m.Payload)
				ids[m.ID] = true
				var p, i int
				_, err := fmt.Sscanf(string(m.Payload), "%d/%d", &p, &i)
				require.NoError(t, err)
				// Each publisher's messages arrive in its publish order.
				require.Equal(t, perPublisher[p], i, "subscriber %d: publisher %d out of order", k, p)
				perPublisher[p]++
			}
			require.Len(t, ids, publishers*each)
		}
	})
}

func TestRetained(t *testing.T) {
	historyStores(t, topic.MQTT, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := context.Background()
		c := trustedConn(t, e)
		require.NoError(t, c.Publish(ctx, "r/a/", []byte("a1"), engine.WithRetain()))
		require.NoError(t, c.Publish(ctx, "r/a/", []byte("a2"), engine.WithRetain())) // replaces
		require.NoError(t, c.Publish(ctx, "r/b/", []byte("b1"), engine.WithRetain()))
		require.NoError(t, c.Publish(ctx, "r/c/", []byte("c1"), engine.WithRetain()))
		require.NoError(t, c.Publish(ctx, "r/c/", nil, engine.WithRetain())) // clears
		require.NoError(t, c.Publish(ctx, "r/d/", []byte("not retained")))

		s, err := c.Subscribe(ctx, "r/+/", nil)
		require.NoError(t, err)
		got := next(t, s, 2)
		require.Equal(t, []string{"a2", "b1"}, payloads(got))
		require.True(t, got[0].Retained && got[1].Retained)
		// Live messages are not marked retained.
		require.NoError(t, c.Publish(ctx, "r/a/", []byte("live")))
		live := next(t, s, 1)
		require.Equal(t, "live", string(live[0].Payload))
		require.False(t, live[0].Retained)

		// Exact filter in MQTT mode; share groups get no retained message.
		s2, err := c.Subscribe(ctx, "r/b/", nil)
		require.NoError(t, err)
		require.Equal(t, []string{"b1"}, payloads(next(t, s2, 1)))
		s3, err := c.Subscribe(ctx, "$share/g/r/+/", nil)
		require.NoError(t, err)
		require.NoError(t, c.Publish(ctx, "r/z/", []byte("z")))
		require.Equal(t, []string{"z"}, payloads(next(t, s3, 1)))

		// Retained with a TTL is also history; it is delivered once.
		require.NoError(t, c.Publish(ctx, "r/t/", []byte("t"), engine.WithRetain(), engine.WithTTL(time.Hour)))
		s4, err := c.Subscribe(ctx, "r/t/", nil, engine.WithLast(10))
		require.NoError(t, err)
		got = next(t, s4, 1)
		require.True(t, got[0].Retained)
		require.NoError(t, c.Publish(ctx, "r/t/", []byte("t2")))
		require.Equal(t, []string{"t2"}, payloads(next(t, s4, 1)))
	})
}

func TestHistoryTTLLimits(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, st store.Store) {
		ctx := context.Background()
		c := trustedConn(t, e)
		require.ErrorIs(t, c.Publish(ctx, "l/", []byte("x"), engine.WithTTL(-time.Second)), engine.ErrInvalidOption)
		// An absurd TTL is clamped, not overflowed.
		require.NoError(t, c.Publish(ctx, "l/?ttl=999999999999999", []byte("forever")))
		msgs, err := st.Query(ctx, store.Query{Filter: "l/"})
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Greater(t, msgs[0].Expires, time.Now().Add(50*365*24*time.Hour).UnixNano())
		// Too large for the store: Publish fails with the store's error and
		// delivers nothing.
		err = c.Publish(ctx, "l/", make([]byte, store.DefaultMaxMessageSize+1), engine.WithTTL(time.Minute))
		require.ErrorIs(t, err, store.ErrTooLarge)
	})
}

func TestHistoryCloseClosesStore(t *testing.T) {
	leaktest.Check(t)
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "h.db"), store.Options{})
	require.NoError(t, err)
	e, err := engine.New(engine.Options{Store: b})
	require.NoError(t, err)
	c := trustedConn(t, e)
	require.NoError(t, c.Publish(context.Background(), "c/", []byte("x"), engine.WithTTL(time.Minute)))
	require.NoError(t, e.Close())
	require.NoError(t, e.Close())
	_, err = b.Query(context.Background(), store.Query{Filter: "c/"})
	require.True(t, errors.Is(err, store.ErrClosed))
	// The durable message is there after reopening.
	b2, err := store.OpenBolt(b.Path(), store.Options{})
	require.NoError(t, err)
	defer b2.Close()
	msgs, err := b2.Query(context.Background(), store.Query{Filter: "c/"})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
}

// TestChannelLengthLimit checks that the engine and the stores agree on the
// longest channel: one of topic.MaxLen bytes is stored and replayed, one
// byte more is refused by the engine, before the store sees it, with an
// error that matches topic.ErrInvalid and is a 400 for Emitter's clients.
func TestChannelLengthLimit(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := t.Context()
		c := trustedConn(t, e)
		longest := strings.Repeat("abc/", topic.MaxLen/4) // exactly MaxLen bytes
		require.Len(t, longest, topic.MaxLen)
		tooLong := "x" + longest
		for _, plain := range []bool{false, true} {
			var opts []engine.PublishOption
			if plain {
				opts = append(opts, engine.PlainTopic())
			}
			require.NoError(t, c.Publish(ctx, longest, []byte("kept"), append(opts, engine.WithTTL(time.Hour))...))
			err := c.Publish(ctx, tooLong, []byte("refused"), append(opts, engine.WithTTL(time.Hour))...)
			require.ErrorIs(t, err, topic.ErrInvalid, "plain %v", plain)
			require.Equal(t, 400, engine.StatusOf(err).Status)
		}
		s, err := c.Subscribe(ctx, longest, nil, engine.WithLast(10))
		require.NoError(t, err)
		require.Equal(t, []string{"kept", "kept"}, payloads(next(t, s, 2)))
	})
}

// TestFromReplayed checks that a replayed message has no publisher: From is
// nil, and its methods answer for no one, while a live one names its
// publisher.
func TestFromReplayed(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := t.Context()
		pub, err := e.Connect(engine.ConnOptions{ID: "pub", Username: "ann", Trusted: true, Data: 7})
		require.NoError(t, err)
		require.NoError(t, pub.Publish(ctx, "f/", []byte("stored"), engine.WithTTL(time.Hour)))
		s, err := trustedConn(t, e).Subscribe(ctx, "f/", nil, engine.WithLast(1))
		require.NoError(t, err)
		require.NoError(t, pub.Publish(ctx, "f/", []byte("live")))
		ms := next(t, s, 2)
		require.Nil(t, ms[0].From())
		require.Equal(t, "", ms[0].From().ID())
		require.Nil(t, ms[0].From().Data())
		from := ms[1].From()
		require.Equal(t, []any{"pub", "ann", 7}, []any{from.ID(), from.Username(), from.Data()})
	})
}

// TestLastZeroSkipsRetained checks Emitter's meaning of an explicit last=0:
// no stored message at all, not even the retained one, while a subscription
// without last gets the retained message (MQTT's meaning).
func TestLastZeroSkipsRetained(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := t.Context()
		c := trustedConn(t, e)
		require.NoError(t, c.Publish(ctx, "r0/", []byte("retained"), engine.WithRetain()))
		require.NoError(t, c.Publish(ctx, "r0/", []byte("stored"), engine.WithTTL(time.Hour)))
		for _, tc := range []struct {
			channel string
			opts    []engine.SubscribeOption
			want    []string
		}{
			{"r0/", nil, []string{"retained"}},
			{"r0/", []engine.SubscribeOption{engine.WithLast(0)}, nil},
			{"r0/?last=0", nil, nil},
			{"r0/", []engine.SubscribeOption{engine.WithLast(5)}, []string{"retained", "stored"}},
		} {
			s, err := c.Subscribe(ctx, tc.channel, nil, tc.opts...)
			require.NoError(t, err)
			require.NoError(t, c.Publish(ctx, "r0/", []byte("live")))
			got := payloads(next(t, s, len(tc.want)+1))
			require.Equal(t, append(tc.want, "live"), got, "%s %d options", tc.channel, len(tc.opts))
			require.NoError(t, s.Unsubscribe())
		}
	})
}

// TestHistory reads stored messages without subscribing: the newest n, a
// time window, pages forward with WithAfter, the key's l permission, and
// nothing without a store.
func TestHistory(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := t.Context()
		c := trustedConn(t, e)
		var want []string
		for i := range 10 {
			want = append(want, fmt.Sprintf("m%d", i))
			require.NoError(t, c.Publish(ctx, "hist/a/", []byte(want[i]), engine.WithTTL(time.Hour)))
		}
		require.NoError(t, c.Publish(ctx, "hist/a/", []byte("not stored")))
		require.NoError(t, c.Publish(ctx, "other/", []byte("elsewhere"), engine.WithTTL(time.Hour)))

		got, err := c.History(ctx, "hist/a/?last=3")
		require.NoError(t, err)
		require.Equal(t, want[7:], payloads(got))
		got, err = c.History(ctx, "hist/", engine.WithLast(4)) // a subscription to hist/ would get them too
		require.NoError(t, err)
		require.Equal(t, want[6:], payloads(got))
		all, err := c.History(ctx, "hist/a/")
		require.NoError(t, err)
		require.Equal(t, want, payloads(all))
		require.Nil(t, all[0].From())
		none, err := c.History(ctx, "hist/a/?last=0")
		require.NoError(t, err)
		require.Empty(t, none)

		// Pages of 4, forward from the start.
		var paged []string
		page, err := c.History(ctx, "hist/a/", engine.WithLast(4), engine.WithFrom(time.Unix(0, 0)), engine.WithAfter(engine.ID{}))
		for ; err == nil && len(page) > 0; page, err = c.History(ctx, "hist/a/", engine.WithLast(4), engine.WithAfter(page[len(page)-1].ID)) {
			require.LessOrEqual(t, len(page), 4)
			paged = append(paged, payloads(page)...)
		}
		require.NoError(t, err)
		require.Equal(t, want, paged)

		// Keys: l is needed; r alone is refused with a 401.
		key, err := e.License().Mint(security.KeySpec{Channel: "hist/#/", Permissions: security.ParsePermissions("rl")})
		require.NoError(t, err)
		readOnly, err := e.License().Mint(security.KeySpec{Channel: "hist/#/", Permissions: security.ParsePermissions("r")})
		require.NoError(t, err)
		u, err := e.Connect(engine.ConnOptions{})
		require.NoError(t, err)
		got, err = u.History(ctx, "hist/a/?last=2", engine.WithKey(key))
		require.NoError(t, err)
		require.Equal(t, want[8:], payloads(got))
		_, err = u.History(ctx, "hist/a/?last=2", engine.WithKey(readOnly))
		require.Equal(t, 401, engine.StatusOf(err).Status)
		_, err = u.History(ctx, "hist/a/?last=2")
		require.Equal(t, 401, engine.StatusOf(err).Status)
		_, err = c.History(ctx, "hist/a/", engine.WithLast(-1))
		require.ErrorIs(t, err, engine.ErrInvalidOption)
	})
	e := newEngine(t, engine.Options{})
	got, err := connect(t, e).History(t.Context(), "a/?last=5")
	require.NoError(t, err)
	require.Empty(t, got)
}
