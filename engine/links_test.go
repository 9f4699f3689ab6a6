package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

// TestLinks checks Emitter's links: a name for a channel with its options
// and key, the key checked on use and not when linking, names of one or two
// letters or digits, and Links listing them.
func TestLinks(t *testing.T) {
	historyStores(t, topic.Emitter, func(t *testing.T, e *engine.Engine, _ store.Store) {
		ctx := t.Context()
		key, err := e.License().Mint(security.KeySpec{Channel: "ln/#/", Permissions: security.ParsePermissions("rwsl")})
		require.NoError(t, err)
		c, err := e.Connect(engine.ConnOptions{})
		require.NoError(t, err)
		s, err := c.Subscribe(ctx, "ln/", nil, engine.WithKey(key))
		require.NoError(t, err)

		require.NoError(t, c.Link("a1", "ln/x/?ttl=30", key))
		require.NoError(t, c.Link("Z", "ln/y/?me=0", key))
		require.NoError(t, c.Link("k", "ln/k/", "not a key")) // not checked now
		for _, name := range []string{"", "abc", "a-", "é"} {
			err := c.Link(name, "ln/x/", key)
			require.ErrorIs(t, err, engine.ErrInvalidLinkName, "%q", name)
			require.Equal(t, security.ErrStatusLinkName, engine.StatusOf(err))
		}
		require.ErrorIs(t, c.Link("w", "ln/+/", key), engine.ErrWildcardPublish)
		require.Error(t, c.Link("w", "ln x/", key))
		require.Equal(t, map[string]string{"a1": "ln/x/?ttl=30", "Z": "ln/y/?me=0", "k": "ln/k/"}, c.Links())
		require.True(t, c.HasLink("a1"))
		require.False(t, c.HasLink("w"))

		// Through a1: delivered on ln/x/ and stored (ttl=30 from the link).
		require.NoError(t, c.PublishLink(ctx, "a1", []byte("via a1")))
		m := next(t, s, 1)[0]
		require.Equal(t, "ln/x/", m.Channel)
		require.Equal(t, 30*time.Second, m.TTL)
		got, err := c.History(ctx, "ln/x/", engine.WithKey(key))
		require.NoError(t, err)
		require.Equal(t, []string{"via a1"}, payloads(got))

		// Through Z: me=0, so not echoed to c itself; another subscriber gets it.
		o, err := e.Connect(engine.ConnOptions{Trusted: true})
		require.NoError(t, err)
		os, err := o.Subscribe(ctx, "ln/y/", nil)
		require.NoError(t, err)
		require.NoError(t, c.PublishLink(ctx, "Z", []byte("via Z")))
		require.Equal(t, []string{"via Z"}, payloads(next(t, os, 1)))

		// k's key is refused when it is used; an unknown name is a 400.
		require.Equal(t, 401, engine.StatusOf(c.PublishLink(ctx, "k", []byte("x"))).Status)
		err = c.PublishLink(ctx, "nope", []byte("x"))
		require.ErrorIs(t, err, engine.ErrNoLink)
		require.Equal(t, 400, engine.StatusOf(err).Status)

		// c's own subscription got only a1's message: the next one is live.
		require.NoError(t, o.Publish(ctx, "ln/end/", []byte("end")))
		require.Equal(t, []string{"end"}, payloads(next(t, s, 1)))
	})
}
