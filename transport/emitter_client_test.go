package transport_test

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	emitter "github.com/emitter-io/go/v2"
	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport"
)

// TestEmitterClient drives the broker with Emitter's own Go SDK (v2.1.0):
// keygen with the master key, subscribe, publish, receive on the bare
// channel; a refused key reported through OnError; ID (me); BlockKey and
// AllowKey (keyban); CreateLink and PublishWithLink (link).
func TestEmitterClient(t *testing.T) {
	b := startBroker(t, engine.Options{}, transport.Options{})
	for _, url := range []string{"tcp://" + b.addr, "ws://" + b.addr + "/"} {
		t.Run(url[:2], func(t *testing.T) {
			msgs := make(chan emitter.Message, 10)
			errs := make(chan emitter.Error, 10)
			c := emitter.NewClient(emitter.WithBrokers(url), emitter.WithAutoReconnect(false),
				emitter.WithConnectTimeout(10*time.Second))
			c.OnError(func(_ *emitter.Client, e emitter.Error) { errs <- e })
			require.NoError(t, c.Connect())
			defer c.Disconnect(100 * time.Millisecond)

			key, channel, err := c.GenerateKey(b.masterKey(), "chat/#/", "rw", 0)
			require.NoError(t, err)
			require.Equal(t, "chat/#/", channel)
			require.Len(t, key, 32)

			_, _, err = c.GenerateKey(key, "chat/", "rw", 0) // not a master key
			require.EqualError(t, err, "the security key provided is not authorized to perform this operation")

			require.NoError(t, c.Subscribe(key, "chat", func(_ *emitter.Client, m emitter.Message) { msgs <- m }))
			require.NoError(t, c.Publish(key, "chat/room1", "hello"))
			m := recv(t, msgs)
			require.Equal(t, "chat/room1/", m.Topic())
			require.Equal(t, "hello", string(m.Payload()))

			require.NoError(t, c.Publish(key, "elsewhere", "nope"))
			e := recv(t, errs)
			require.Equal(t, 401, e.Status)

			// me: the connection's id, Emitter's 26 characters of base32.
			id := c.ID()
			require.Regexp(t, `^[A-Z2-7]{26}$`, id)

			// keyban: BlockKey bans the key on every connection at once,
			// AllowKey lifts the ban at once.
			ok, err := c.BlockKey(b.masterKey(), key)
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, c.Publish(key, "chat/room1", "banned"))
			require.Equal(t, 401, recv(t, errs).Status)
			ok, err = c.AllowKey(b.masterKey(), key)
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, c.Publish(key, "chat/room1", "allowed"))
			require.Equal(t, "allowed", string(recv(t, msgs).Payload()))

			// link: a name for a channel and its key; publishing to the name
			// publishes to the channel.
			link, err := c.CreateLink(key, "chat/linked", "l1", nil)
			require.NoError(t, err)
			require.Equal(t, "l1", link.Name)
			require.NoError(t, c.PublishWithLink("l1", "through the link"))
			m = recv(t, msgs)
			require.Equal(t, "chat/linked/", m.Topic())
			require.Equal(t, "through the link", string(m.Payload()))
		})
	}
}

// TestEmitterClientHistory reads history with Emitter's Go SDK (v2.1.0),
// whose History pages through emitter/history/ with startFromID. Two faults
// are the SDK's, not the broker's: its HistoryMessage reads a "topic" field
// where Emitter's broker sends "channel" (so Topic is empty), and it types
// Payload as a string, so it holds the base64 text Emitter sends.
func TestEmitterClientHistory(t *testing.T) {
	b := startBroker(t, engine.Options{}, transport.Options{})
	key, err := b.e.License().Mint(security.KeySpec{Channel: "hist/", Permissions: security.ParsePermissions("rwsl")})
	require.NoError(t, err)
	for _, url := range []string{"tcp://" + b.addr, "ws://" + b.addr + "/"} {
		t.Run(url[:2], func(t *testing.T) {
			c := emitter.NewClient(emitter.WithBrokers(url), emitter.WithAutoReconnect(false),
				emitter.WithConnectTimeout(10*time.Second))
			require.NoError(t, c.Connect())
			defer c.Disconnect(100 * time.Millisecond)
			var want []string
			for i := range 4 {
				want = append(want, fmt.Sprintf("%s %d", url[:2], i))
				require.NoError(t, c.Publish(key, "hist", want[i], emitter.WithTTL(3600), emitter.WithAtLeastOnce()))
			}
			var got []string
			for m, err := range c.History(key, "hist", 0, 0, 3) {
				require.NoError(t, err)
				p, err := base64.StdEncoding.DecodeString(m.Payload)
				require.NoError(t, err)
				got = append(got, string(p))
			}
			require.Equal(t, want[1:], got, "the 3 newest, oldest first")
		})
	}
}
