package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/internal/leaktest"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/topic"
	"github.com/stretchr/testify/require"
)

func newEngine(t testing.TB, opts engine.Options) *engine.Engine {
	t.Helper()
	e, err := engine.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	return e
}

func connect(t testing.TB, e *engine.Engine) *engine.Conn {
	t.Helper()
	c, err := e.Connect(engine.ConnOptions{Trusted: true})
	require.NoError(t, err)
	return c
}

// collector gathers messages delivered to a handler.
type collector struct {
	mu   sync.Mutex
	msgs []*engine.Message
	got  chan struct{}
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1<<16)} }

func (c *collector) handle(m *engine.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.got <- struct{}{}
}

// wait blocks until n more messages have arrived.
func (c *collector) wait(t testing.TB, n int) {
	t.Helper()
	for range n {
		select {
		case <-c.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for messages")
		}
	}
}

func (c *collector) payloads() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.msgs))
	for i, m := range c.msgs {
		out[i] = m.String()
	}
	return out
}

func TestPublishSubscribe(t *testing.T) {
	leaktest.Check(t)
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	pub, sub := connect(t, e), connect(t, e)

	col := newCollector()
	s, err := sub.Subscribe(ctx, "a/b/", col.handle)
	require.NoError(t, err)
	require.Equal(t, "a/b/", s.Channel())

	before := time.Now()
	require.NoError(t, pub.Publish(ctx, "a/b/c/", []byte("hello")))
	require.NoError(t, pub.Publish(ctx, "a/x/", []byte("not for a/b/")))
	require.NoError(t, pub.Publish(ctx, "a/b/", []byte(`{"n":1}`), engine.WithTTL(90*time.Second)))
	col.wait(t, 2)

	require.Equal(t, []string{"hello", `{"n":1}`}, col.payloads())
	m0, m1 := col.msgs[0], col.msgs[1]
	require.Equal(t, "a/b/c/", m0.Channel)
	require.Equal(t, []byte("hello"), m0.Bytes())
	require.Equal(t, 90*time.Second, m1.TTL)
	var v struct{ N int }
	require.NoError(t, m1.Decode(&v))
	require.Equal(t, 1, v.N)
	require.Less(t, string(m0.ID[:]), string(m1.ID[:]), "IDs are time ordered")
	require.False(t, m0.Time().Before(before.Truncate(time.Microsecond)))

	// The publisher's buffer is copied.
	buf := []byte("mutable")
	require.NoError(t, pub.Publish(ctx, "a/b/", buf))
	copy(buf, "XXXXXXX")
	col.wait(t, 1)
	require.Equal(t, "mutable", col.msgs[2].String())

	require.NoError(t, s.Unsubscribe())
	<-s.Done()
	require.NoError(t, pub.Publish(ctx, "a/b/", []byte("after")))
	require.Len(t, col.payloads(), 3)
}

func TestChannelOptionsAndErrors(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c := connect(t, e)
	col := newCollector()
	_, err := c.Subscribe(ctx, "a/", col.handle)
	require.NoError(t, err)

	err = c.Publish(ctx, "a/+/", nil)
	require.ErrorIs(t, err, engine.ErrWildcardPublish)
	err = c.Publish(ctx, "a/b", nil)
	require.ErrorContains(t, err, "channel must end with '/'")
	err = c.Publish(ctx, "a/ b/", nil)
	require.ErrorContains(t, err, "character ' ' is not allowed in segment 2")
	_, err = c.Subscribe(ctx, "a/#/b/", col.handle)
	require.ErrorContains(t, err, "'#' must be the last segment")
	err = c.Publish(ctx, "a/", nil, engine.WithTTL(-time.Second))
	require.ErrorIs(t, err, engine.ErrInvalidOption)
	_, err = c.Subscribe(ctx, "a/", nil, engine.Inline())
	require.ErrorIs(t, err, engine.ErrInvalidOption)
	_, err = c.Subscribe(ctx, "a/", nil, engine.WithQueue(0, engine.Block))
	require.ErrorIs(t, err, engine.ErrInvalidOption)

	// Options in the channel string apply; an Option argument overrides.
	require.NoError(t, c.Publish(ctx, "a/?ttl=30", []byte("x")))
	require.NoError(t, c.Publish(ctx, "a/?ttl=30", []byte("y"), engine.WithTTL(time.Minute)))
	col.wait(t, 2)
	require.Equal(t, 30*time.Second, col.msgs[0].TTL)
	require.Equal(t, time.Minute, col.msgs[1].TTL)
	require.Equal(t, "a/", col.msgs[0].Channel, "options are not part of the channel")
}

func TestNoEcho(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	a, b := connect(t, e), connect(t, e)
	ca, cb := newCollector(), newCollector()
	_, err := a.Subscribe(ctx, "room/", ca.handle)
	require.NoError(t, err)
	_, err = b.Subscribe(ctx, "room/", cb.handle)
	require.NoError(t, err)

	require.NoError(t, a.Publish(ctx, "room/", []byte("1"), engine.WithoutEcho()))
	require.NoError(t, a.Publish(ctx, "room/?me=0", []byte("2")))
	require.NoError(t, a.Publish(ctx, "room/?me=1", []byte("3")))
	cb.wait(t, 3)
	ca.wait(t, 1)
	require.Equal(t, []string{"1", "2", "3"}, cb.payloads())
	require.Equal(t, []string{"3"}, ca.payloads())
}

func TestMatchers(t *testing.T) {
	// Each case: filters subscribed, channel published, the filters that
	// must receive it under each matcher.
	cases := []struct {
		pub     string
		emitter []string
		mqtt    []string
	}{
		{"a/", []string{"a/", "a/#/", "+/#/"}, []string{"a/", "a/#/", "+/#/"}},
		{"a/b/", []string{"a/", "a/b/", "a/+/", "a/#/", "+/#/"}, []string{"a/b/", "a/+/", "a/#/", "+/#/"}},
		{"a/b/c/", []string{"a/", "a/b/", "a/+/", "a/#/", "+/b/c/", "+/#/"}, []string{"a/#/", "+/b/c/", "+/#/"}},
		{"$sys/b/c/", []string{"$sys/", "+/b/c/", "+/#/"}, nil},
	}
	filters := []string{"a/", "a/b/", "a/+/", "a/#/", "+/b/c/", "$sys/", "+/#/"}
	for _, m := range []topic.Mode{topic.Emitter, topic.MQTT} {
		t.Run(m.String(), func(t *testing.T) {
			ctx := t.Context()
			e := newEngine(t, engine.Options{Matching: m})
			c := connect(t, e)
			var mu sync.Mutex
			got := map[string][]string{}
			for _, f := range filters {
				_, err := c.Subscribe(ctx, f, func(msg *engine.Message) {
					mu.Lock()
					got[msg.String()] = append(got[msg.String()], f)
					mu.Unlock()
				}, engine.Inline())
				require.NoError(t, err)
			}
			for _, tc := range cases {
				require.NoError(t, c.Publish(ctx, tc.pub, []byte(tc.pub)))
				want := tc.emitter
				if m == topic.MQTT {
					want = tc.mqtt
				}
				require.ElementsMatch(t, want, got[tc.pub], "publish %s", tc.pub)
			}
		})
	}
}

func TestShareGroup(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c := connect(t, e)
	var counts [3]atomic.Int64
	var plain atomic.Int64
	for i := range counts {
		_, err := c.Subscribe(ctx, "$share/g1/s/", func(*engine.Message) { counts[i].Add(1) }, engine.Inline())
		require.NoError(t, err)
	}
	_, err := c.Subscribe(ctx, "s/", func(*engine.Message) { plain.Add(1) }, engine.Inline())
	require.NoError(t, err)
	const n = 300
	for range n {
		require.NoError(t, c.Publish(ctx, "s/x/", nil))
	}
	require.Equal(t, int64(n), plain.Load())
	var total int64
	for i := range counts {
		total += counts[i].Load()
		require.Equal(t, int64(n/3), counts[i].Load(), "member %d: round robin spreads evenly", i)
	}
	require.Equal(t, int64(n), total, "the group receives each message exactly once")
}

func TestOrderPerPublisher(t *testing.T) {
	leaktest.Check(t)
	ctx := t.Context()
	// A small queue, so that publishers block often, and no timeout: on a
	// loaded machine a SlowTimeout drop would leave Next below waiting.
	e := newEngine(t, engine.Options{QueueSize: 16, SlowTimeout: time.Hour})
	const pubs, perPub = 4, 2000
	sub := connect(t, e)
	s, err := sub.Subscribe(ctx, "o/", nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for p := range pubs {
		c := connect(t, e)
		wg.Go(func() {
			for i := range perPub {
				if err := c.Publish(ctx, fmt.Sprintf("o/%d/", p), fmt.Appendf(nil, "%d", i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int, pubs)
	nctx, cancel := context.WithTimeout(ctx, time.Minute) // fail rather than hang
	defer cancel()
	for range pubs * perPub {
		m, err := s.Next(nctx)
		require.NoError(t, err)
		var p, i int
		_, err = fmt.Sscanf(m.Channel+" "+m.String(), "o/%d/ %d", &p, &i)
		require.NoError(t, err)
		require.Equal(t, next[p], i, "publisher %d out of order", p)
		next[p]++
	}
	wg.Wait()
	require.Zero(t, s.Dropped())
}

func TestMessagesIterator(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c := connect(t, e)
	s, err := c.Subscribe(ctx, "it/", nil)
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, c.Publish(ctx, "it/", fmt.Appendf(nil, "m%d", i)))
	}
	var got []string
	for m := range s.Messages(ctx) {
		got = append(got, m.String())
		if len(got) == 5 {
			require.NoError(t, s.Unsubscribe())
		}
	}
	require.Equal(t, []string{"m0", "m1", "m2", "m3", "m4"}, got, "iteration ends after Unsubscribe")
	_, err = s.Next(ctx)
	require.ErrorIs(t, err, engine.ErrClosed)

	// Next honours its context.
	s2, err := c.Subscribe(ctx, "idle/", nil)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s2.Next(cctx)
	require.ErrorIs(t, err, context.Canceled)
}

// blockingHandler blocks every call until release is closed, and reports
// each call's payload on started.
func blockingHandler(started chan<- string, release <-chan struct{}) engine.Handler {
	return func(m *engine.Message) {
		started <- m.String()
		<-release
	}
}

func TestOverflowDrop(t *testing.T) {
	for _, tc := range []struct {
		policy engine.Overflow
		want   []string // delivered after the first (blocked) message
	}{
		{engine.DropNewest, []string{"1", "2", "3"}},
		{engine.DropOldest, []string{"4", "5", "6"}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			ctx := t.Context()
			e := newEngine(t, engine.Options{})
			c := connect(t, e)
			started, release := make(chan string, 16), make(chan struct{})
			slow, err := c.Subscribe(ctx, "q/", blockingHandler(started, release), engine.WithQueue(3, tc.policy))
			require.NoError(t, err)
			fast := newCollector()
			_, err = c.Subscribe(ctx, "q/", fast.handle)
			require.NoError(t, err)

			require.NoError(t, c.Publish(ctx, "q/", []byte("0")))
			require.Equal(t, "0", <-started) // the handler now holds "0"
			for i := 1; i <= 6; i++ {
				require.NoError(t, c.Publish(ctx, "q/", fmt.Appendf(nil, "%d", i)))
			}
			require.Equal(t, uint64(3), slow.Dropped())
			close(release)
			var got []string
			for range 3 {
				got = append(got, <-started)
			}
			require.Equal(t, tc.want, got)
			fast.wait(t, 7) // the slow subscriber cost the other one nothing
		})
	}
}

func TestOverflowBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e, err := engine.New(engine.Options{SlowTimeout: time.Second})
		require.NoError(t, err)
		defer e.Close()
		c, err := e.Connect(engine.ConnOptions{Trusted: true})
		require.NoError(t, err)
		started, release := make(chan string, 16), make(chan struct{})
		slow, err := c.Subscribe(ctx, "q/", blockingHandler(started, release), engine.WithQueue(2, engine.Block))
		require.NoError(t, err)

		require.NoError(t, c.Publish(ctx, "q/", []byte("0")))
		require.Equal(t, "0", <-started)
		require.NoError(t, c.Publish(ctx, "q/", []byte("1")))
		require.NoError(t, c.Publish(ctx, "q/", []byte("2")))

		// The queue is full: the next publish waits SlowTimeout, then the
		// message is dropped and the subscription is marked slow.
		t0 := time.Now()
		require.NoError(t, c.Publish(ctx, "q/", []byte("3")))
		require.Equal(t, time.Second, time.Since(t0))
		require.Equal(t, uint64(1), slow.Dropped())
		// While slow, publishers do not wait at all.
		t0 = time.Now()
		require.NoError(t, c.Publish(ctx, "q/", []byte("4")))
		require.Zero(t, time.Since(t0))
		require.Equal(t, uint64(2), slow.Dropped())

		// A publisher waiting for room proceeds as soon as the handler
		// takes the queued messages.
		close(release)
		require.Equal(t, "1", <-started)
		require.Equal(t, "2", <-started)
		synctest.Wait()
		require.NoError(t, c.Publish(ctx, "q/", []byte("5")))
		require.Equal(t, "5", <-started)
		require.Equal(t, uint64(2), slow.Dropped())

		// A publisher's context bounds its wait too.
		release2 := make(chan struct{})
		_, err = c.Subscribe(ctx, "r/", blockingHandler(started, release2), engine.WithQueue(1, engine.Block))
		require.NoError(t, err)
		require.NoError(t, c.Publish(ctx, "r/", []byte("r0")))
		require.Equal(t, "r0", <-started)
		require.NoError(t, c.Publish(ctx, "r/", []byte("r1")))
		cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		t0 = time.Now()
		require.NoError(t, c.Publish(cctx, "r/", []byte("r2")))
		cancel()
		require.Equal(t, 10*time.Millisecond, time.Since(t0))
		close(release2)
		require.Equal(t, "r1", <-started)
	})
}

type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestHandlerPanicIsContained(t *testing.T) {
	ctx := t.Context()
	rec := &recordHandler{}
	e := newEngine(t, engine.Options{Logger: slog.New(rec)})
	c := connect(t, e)
	col := newCollector()
	_, err := c.Subscribe(ctx, "p/", func(m *engine.Message) {
		if m.String() == "boom" {
			panic("handler bug")
		}
		col.handle(m)
	})
	require.NoError(t, err)
	_, err = c.Subscribe(ctx, "p/", func(m *engine.Message) {
		if m.String() == "boom" {
			panic("inline bug")
		}
	}, engine.Inline())
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, "p/", []byte("boom")))
	require.NoError(t, c.Publish(ctx, "p/", []byte("after")))
	col.wait(t, 1)
	require.Equal(t, []string{"after"}, col.payloads())
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var panics []string
	for _, r := range rec.records {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "panic" {
				panics = append(panics, a.Value.String())
			}
			return true
		})
	}
	require.ElementsMatch(t, []string{"handler bug", "inline bug"}, panics)
}

func TestCloseIsIdempotentAndComplete(t *testing.T) {
	leaktest.Check(t)
	ctx := t.Context()
	e, err := engine.New(engine.Options{})
	require.NoError(t, err)
	c, err := e.Connect(engine.ConnOptions{Trusted: true}) // acts without keys
	require.NoError(t, err)
	var subs []*engine.Subscription
	for i := range 50 {
		s, err := c.Subscribe(ctx, fmt.Sprintf("c/%d/", i), func(*engine.Message) {})
		require.NoError(t, err)
		subs = append(subs, s)
	}
	pull, err := c.Subscribe(ctx, "c/", nil)
	require.NoError(t, err)
	waiting := make(chan error)
	go func() {
		_, err := pull.Next(context.Background())
		waiting <- err
	}()
	require.NoError(t, e.Close())
	require.NoError(t, e.Close())
	require.ErrorIs(t, <-waiting, engine.ErrClosed, "a blocked Next returns when the engine closes")
	for _, s := range subs {
		<-s.Done()
	}
	require.ErrorIs(t, c.Publish(ctx, "c/", nil), engine.ErrClosed)
	_, err = c.Subscribe(ctx, "c/", nil)
	require.ErrorIs(t, err, engine.ErrClosed)
	_, err = e.Connect(engine.ConnOptions{})
	require.ErrorIs(t, err, engine.ErrClosed)
	var nilEngine *engine.Engine
	require.NoError(t, nilEngine.Close())
}

func TestConnIdentity(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c1, err := e.Connect(engine.ConnOptions{Username: "alice"})
	require.NoError(t, err)
	require.Len(t, c1.ID(), 26)
	require.Equal(t, "alice", c1.Username())
	require.False(t, c1.Trusted())
	_, err = e.Connect(engine.ConnOptions{ID: c1.ID()})
	require.ErrorIs(t, err, engine.ErrConnExists)

	// An untrusted connection needs a channel key.
	_, err = c1.Subscribe(ctx, "x/", nil)
	require.ErrorIs(t, err, security.ErrStatusUnauthorized)
	key, err := e.License().Mint(security.KeySpec{Channel: "x/", Permissions: security.PermRead})
	require.NoError(t, err)
	s, err := c1.Subscribe(ctx, "x/", nil, engine.WithKey(key))
	require.NoError(t, err)
	require.NoError(t, c1.Close())
	require.NoError(t, c1.Close())
	<-s.Done()
	// The id is free again once the connection is closed.
	c2, err := e.Connect(engine.ConnOptions{ID: c1.ID()})
	require.NoError(t, err)
	require.Equal(t, c1.ID(), c2.ID())
}

func TestUnsubscribeByChannel(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c, other := connect(t, e), connect(t, e)
	var n atomic.Int64
	for range 2 {
		_, err := c.Subscribe(ctx, "u/", func(*engine.Message) { n.Add(1) }, engine.Inline())
		require.NoError(t, err)
	}
	_, err := other.Subscribe(ctx, "u/", func(*engine.Message) { n.Add(100) }, engine.Inline())
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, "u/", nil))
	require.Equal(t, int64(102), n.Load())
	require.NoError(t, c.Unsubscribe("u/?last=5"))
	require.NoError(t, c.Unsubscribe("never/"))
	require.NoError(t, c.Publish(ctx, "u/", nil))
	require.Equal(t, int64(202), n.Load(), "only the other connection's subscription is left")
}

func TestPlainTopics(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{Matching: topic.MQTT})
	c := connect(t, e)
	col := newCollector()
	_, err := c.Subscribe(ctx, "sensors/+/temp é/", col.handle, engine.PlainTopic())
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, "sensors/k?tchen/temp é/", []byte("21"), engine.PlainTopic()))
	col.wait(t, 1)
	require.Equal(t, "sensors/k?tchen/temp é/", col.msgs[0].Channel)
	require.ErrorIs(t, c.Publish(ctx, "a/+/", nil, engine.PlainTopic()), topic.ErrInvalid)
	require.ErrorIs(t, c.Publish(ctx, "a\x00/", nil, engine.PlainTopic()), topic.ErrInvalid)
	require.ErrorIs(t, c.Publish(ctx, "a", nil, engine.PlainTopic()), topic.ErrInvalid)
}

// TestRandomAgainstModel publishes random channels to random subscriptions
// and compares every delivery with an independent, naive matcher.
func TestRandomAgainstModel(t *testing.T) {
	for _, m := range []topic.Mode{topic.Emitter, topic.MQTT} {
		t.Run(m.String(), func(t *testing.T) {
			ctx := t.Context()
			rng := rand.New(rand.NewPCG(1, uint64(m)))
			e := newEngine(t, engine.Options{Matching: m})
			c := connect(t, e)
			words := []string{"a", "b", "c"}
			randLevels := func(wild bool) []string {
				n := 1 + rng.IntN(3)
				lv := make([]string, n)
				for i := range lv {
					lv[i] = words[rng.IntN(len(words))]
					if wild && rng.IntN(4) == 0 {
						lv[i] = "+"
					}
				}
				if wild && rng.IntN(5) == 0 {
					lv = append(lv, "#")
				}
				return lv
			}
			type sub struct {
				levels []string
				got    []string
			}
			var subs []*sub
			for range 40 {
				s := &sub{levels: randLevels(true)}
				subs = append(subs, s)
				_, err := c.Subscribe(ctx, strings.Join(s.levels, "/")+"/", func(msg *engine.Message) {
					s.got = append(s.got, msg.String())
				}, engine.Inline())
				require.NoError(t, err)
			}
			want := make([][]string, len(subs))
			for i := range 300 {
				lv := randLevels(false)
				payload := fmt.Sprint(i)
				require.NoError(t, c.Publish(ctx, strings.Join(lv, "/")+"/", []byte(payload)))
				for j, s := range subs {
					if modelMatch(m, s.levels, lv) {
						want[j] = append(want[j], payload)
					}
				}
			}
			for j, s := range subs {
				require.Equal(t, want[j], s.got, "subscription %v", s.levels)
			}
		})
	}
}

// modelMatch is the matching rule written out directly from its definition.
func modelMatch(m topic.Mode, filter, levels []string) bool {
	if len(filter) > 0 && filter[len(filter)-1] == "#" {
		prefix := filter[:len(filter)-1]
		if len(levels) < len(prefix) {
			return false
		}
		return modelMatch(topic.MQTT, prefix, levels[:len(prefix)])
	}
	if m == topic.Emitter {
		if len(levels) < len(filter) {
			return false
		}
		levels = levels[:len(filter)]
	}
	if len(levels) != len(filter) {
		return false
	}
	for i := range filter {
		if filter[i] != "+" && filter[i] != levels[i] {
			return false
		}
	}
	return true
}

func TestMessageID(t *testing.T) {
	var id engine.ID
	require.True(t, id.IsZero())
	ctx := t.Context()
	e := newEngine(t, engine.Options{Clock: func() time.Time { return time.Unix(1795305420, 0) }})
	c := connect(t, e)
	s, err := c.Subscribe(ctx, "id/", nil, engine.WithQueue(10000, engine.Block))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if err := c.Publish(ctx, "id/", nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	seen := map[engine.ID]bool{}
	for range 4000 {
		m, err := s.Next(ctx)
		require.NoError(t, err)
		require.False(t, seen[m.ID], "duplicate ID")
		seen[m.ID] = true
		// A frozen clock still yields distinct IDs within a microsecond of it.
		require.WithinDuration(t, time.Unix(1795305420, 0), m.Time(), time.Millisecond)
		text, err := m.ID.MarshalText()
		require.NoError(t, err)
		var back engine.ID
		require.NoError(t, back.UnmarshalText(text))
		require.Equal(t, m.ID, back)
	}
	require.Error(t, id.UnmarshalText([]byte("short")))
}

func TestPayloadSizes(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c := connect(t, e)
	s, err := c.Subscribe(ctx, "p/", nil)
	require.NoError(t, err)
	for _, n := range []int{0, 1, 32, 33, 64, 65, 512, 513, 1000, 2048, 2049, 4096, 4097, 100000} {
		p := bytes.Repeat([]byte{byte(n)}, n)
		require.NoError(t, c.Publish(ctx, "p/", p))
		m, err := s.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, string(p), string(m.Payload), "size %d", n)
		require.Equal(t, n, cap(m.Payload), "the payload cannot be appended into the shared buffer")
	}
}

func TestNoCopy(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c := connect(t, e)
	s, err := c.Subscribe(ctx, "nc/", nil)
	require.NoError(t, err)
	buf := []byte("owned by the engine now")
	require.NoError(t, c.Publish(ctx, "nc/", buf, engine.NoCopy()))
	m, err := s.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "owned by the engine now", m.String())
	require.Same(t, &buf[0], &m.Payload[0], "NoCopy delivers the caller's buffer itself")

	allocs := testing.AllocsPerRun(200, func() {
		_ = c.Publish(ctx, "nc/", make([]byte, 8192), engine.NoCopy())
		_, _ = s.Next(ctx)
	})
	require.LessOrEqual(t, allocs, 2.0, "the Message (and the caller's own buffer) only")
}

func TestMessageFromAndQoS(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	type session struct{ name string }
	pub, err := e.Connect(engine.ConnOptions{Trusted: true, Data: &session{"pub"}})
	require.NoError(t, err)
	s, err := connect(t, e).Subscribe(ctx, "q/", nil)
	require.NoError(t, err)
	require.NoError(t, pub.Publish(ctx, "q/", nil, engine.WithQoS(2)))
	require.NoError(t, pub.Publish(ctx, "q/", nil))
	m, err := s.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, uint8(2), m.QoS)
	require.Same(t, pub.Identity(), m.From())
	require.Equal(t, "pub", m.From().Data().(*session).name)
	m, err = s.Next(ctx)
	require.NoError(t, err)
	require.Zero(t, m.QoS)
}

// TestSubscribeRacingClose subscribes while the engine closes: every
// Subscribe either succeeds (and its subscription ends with the engine) or
// returns ErrClosed, nothing panics, and no goroutine is left.
func TestSubscribeRacingClose(t *testing.T) {
	leaktest.Check(t)
	for range 20 {
		e, err := engine.New(engine.Options{})
		require.NoError(t, err)
		c, err := e.Connect(engine.ConnOptions{Trusted: true})
		require.NoError(t, err)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				var subs []*engine.Subscription
				for j := 0; ; j++ {
					s, err := c.Subscribe(context.Background(), fmt.Sprintf("r/%d/%d/", i, j), func(*engine.Message) {})
					if err != nil {
						require.ErrorIs(t, err, engine.ErrClosed)
						break
					}
					subs = append(subs, s)
				}
				for _, s := range subs {
					<-s.Done() // every subscription made ends with the engine
				}
			})
		}
		require.NoError(t, e.Close())
		wg.Wait()
	}
}

// TestKeptMessagesStayIntact keeps every message that concurrent publishers
// send, with payloads of every size class the engine carves from shared
// blocks, and checks afterwards that none was overwritten by a later one.
func TestKeptMessagesStayIntact(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{QueueSize: 1 << 14})
	const pubs, perPub = 2, 3000
	col := newCollector()
	_, err := connect(t, e).Subscribe(ctx, "keep/", col.handle)
	require.NoError(t, err)
	payload := func(p, i int) []byte {
		n := (i * 37) % 2600 // across both arenas' limits and many chunks
		return bytes.Repeat([]byte{byte(p*131 + i)}, n)
	}
	var wg sync.WaitGroup
	for p := range pubs {
		c := connect(t, e)
		wg.Go(func() {
			for i := range perPub {
				var opts []engine.PublishOption
				if i%5 == 0 {
					opts = append(opts, engine.NoCopy())
				}
				if err := c.Publish(ctx, fmt.Sprintf("keep/%d/%d/", p, i), payload(p, i), opts...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	col.wait(t, pubs*perPub)
	col.mu.Lock()
	defer col.mu.Unlock()
	ids := make(map[engine.ID]bool, len(col.msgs))
	for _, m := range col.msgs {
		var p, i int
		_, err := fmt.Sscanf(m.Channel, "keep/%d/%d/", &p, &i)
		require.NoError(t, err)
		want := payload(p, i)
		require.Equal(t, want, []byte(m.Payload), "message %d of publisher %d", i, p)
		require.Equal(t, len(want), cap(m.Payload), "an append cannot reach a neighbour")
		require.False(t, ids[m.ID], "duplicate ID")
		ids[m.ID] = true
	}
	for _, m := range col.msgs { // appending to one payload leaves the others alone
		_ = append(m.Payload, 0xFF)
	}
	for _, m := range col.msgs {
		var p, i int
		_, _ = fmt.Sscanf(m.Channel, "keep/%d/%d/", &p, &i)
		require.Equal(t, payload(p, i), []byte(m.Payload))
	}
}

// TestPublishAllocations checks that a publish of a small payload, copied or
// not, allocates nothing of its own: Messages and payload copies are carved
// from blocks shared by many messages.
func TestPublishAllocations(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c := connect(t, e)
	s, err := c.Subscribe(ctx, "a/", nil)
	require.NoError(t, err)
	payload := make([]byte, 64)
	for _, opts := range [][]engine.PublishOption{nil, {engine.NoCopy()}} {
		allocs := testing.AllocsPerRun(1000, func() {
			_ = c.Publish(ctx, "a/", payload, opts...)
			_, _ = s.Next(ctx)
		})
		require.Zero(t, allocs, "options %v", opts)
	}
}

func TestMessageClone(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	c := connect(t, e)
	s, err := c.Subscribe(ctx, "cl/", nil)
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, "cl/", []byte("payload"), engine.WithQoS(1)))
	m, err := s.Next(ctx)
	require.NoError(t, err)
	cl := m.Clone()
	require.Equal(t, *m, *cl)
	require.Same(t, c.Identity(), cl.From())
	cl.Payload[0] = 'P'
	require.Equal(t, "payload", m.String(), "the clone's payload is its own")
	require.Nil(t, (&engine.Message{}).Clone().Payload)
}

// TestNextCancelLosesNothing races each Next's context being cancelled with
// the publisher handing a message over: a Next that gives up must leave the
// message for the next call, in order.
func TestNextCancelLosesNothing(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{SlowTimeout: time.Hour})
	c := connect(t, e)
	s, err := c.Subscribe(ctx, "n/", nil)
	require.NoError(t, err)
	const n = 3000
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			if err := c.Publish(ctx, "n/", fmt.Appendf(nil, "%d", i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	cancelled := 0
	for want := 0; want < n; {
		var cctx context.Context
		var cancel context.CancelFunc
		select {
		case <-published: // everything is queued: wait for it, bounded
			cctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		default:
			cctx, cancel = context.WithCancel(ctx)
			go cancel()
		}
		m, err := s.Next(cctx)
		cancel()
		if errors.Is(err, context.Canceled) {
			cancelled++
			continue
		}
		require.NoError(t, err, "message %d lost", want)
		require.Equal(t, strconv.Itoa(want), m.String())
		want++
	}
	t.Logf("%d calls of Next gave up", cancelled)
}
