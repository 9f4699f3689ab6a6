package transport_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/transport"
)

// TestSessionFileRestart checks that a persistent session (its subscription
// and a QoS 1 message queued while the client was away) survives a restart
// of the server when Options.SessionFile is set.
func TestSessionFileRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sessions")
	start := func() (*engine.Engine, *transport.Server, string, chan error) {
		e, err := engine.New(engine.Options{Matcher: engine.MatchMQTT, Store: store.NewMemory(store.Options{})})
		require.NoError(t, err)
		srv, err := transport.New(e, transport.Options{PlainTopics: true, SessionFile: file})
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		return e, srv, "tcp://" + ln.Addr().String(), errc
	}
	stop := func(e *engine.Engine, srv *transport.Server, errc chan error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.ErrorIs(t, <-errc, transport.ErrServerClosed)
		require.NoError(t, e.Close())
	}

	e, srv, url, errc := start()
	sub := pahoConnect(t, url, "persistent", false)
	pahoSubscribe(t, sub, "persist/+", 1)
	sub.Disconnect(100)
	pub := pahoConnect(t, url, "publisher", true)
	pahoPublish(t, pub, "persist/x", 1, false, "while away")
	pub.Disconnect(100)
	// The publisher's clean session ends when the server has read its
	// DISCONNECT.
	require.Eventually(t, func() bool { return srv.Stats().Sessions == 1 }, 5*time.Second, time.Millisecond)
	stop(e, srv, errc)
	require.FileExists(t, file)

	e, srv, url, errc = start()
	defer stop(e, srv, errc)
	require.Equal(t, 1, srv.Stats().Sessions)
	got := make(chan pahoMsg, 10)
	o := paho.NewClientOptions().AddBroker(url).SetClientID("persistent").SetCleanSession(false).
		SetAutoReconnect(false).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		got <- pahoMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
	})
	c := paho.NewClient(o)
	tok := c.Connect()
	require.NoError(t, waitToken(tok))
	require.True(t, tok.(*paho.ConnectToken).SessionPresent())
	defer c.Disconnect(100)
	require.Equal(t, pahoMsg{"persist/x", "while away", 1, false}, recv(t, got))

	// The subscription itself was restored.
	pub = pahoConnect(t, url, "publisher", true)
	pahoPublish(t, pub, "persist/y", 1, false, "after restart")
	require.Equal(t, pahoMsg{"persist/y", "after restart", 1, false}, recv(t, got))
}
