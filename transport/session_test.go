package transport_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// sessionServer is a server with plain topics on an MQTT-matching engine
// (memory store) that saves its sessions to a file on Shutdown.
type sessionServer struct {
	e    *engine.Engine
	srv  *transport.Server
	addr string
	errc chan error
}

func startSessionServer(t testing.TB, file string) *sessionServer {
	e, err := engine.New(engine.Options{Matching: topic.MQTT, Store: store.NewMemory(store.Options{})})
	require.NoError(t, err)
	srv, err := transport.New(e, transport.Options{PlainTopics: true, SessionFile: file})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	return &sessionServer{e: e, srv: srv, addr: ln.Addr().String(), errc: errc}
}

// stop shuts the server down (saving its sessions) and closes the engine.
func (s *sessionServer) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.srv.Shutdown(ctx))
	require.ErrorIs(t, <-s.errc, transport.ErrServerClosed)
	require.NoError(t, s.e.Close())
}

// TestSessionFileRestart checks that a persistent session (its subscription
// and a QoS 1 message queued while the client was away) survives a restart
// of the server when Options.SessionFile is set.
func TestSessionFileRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sessions")
	sv := startSessionServer(t, file)
	srv, url := sv.srv, "tcp://"+sv.addr
	sub := pahoConnect(t, url, "persistent", false)
	pahoSubscribe(t, sub, "persist/+", 1)
	sub.Disconnect(100)
	pub := pahoConnect(t, url, "publisher", true)
	pahoPublish(t, pub, "persist/x", 1, false, "while away")
	pub.Disconnect(100)
	// The publisher's clean session ends when the server has read its
	// DISCONNECT.
	require.Eventually(t, func() bool { return srv.Stats().Sessions == 1 }, 5*time.Second, time.Millisecond)
	sv.stop(t)
	require.FileExists(t, file)

	sv = startSessionServer(t, file)
	defer sv.stop(t)
	srv, url = sv.srv, "tcp://"+sv.addr
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

// TestInflightAcksOutOfOrder has a QoS 1 subscriber with a persistent
// session acknowledge what it gets in random order, leaving a few messages
// unacknowledged for good, through a small in-flight window. The broker must
// never have two messages in flight under one packet id, and after the
// client reconnects it must send again exactly the unacknowledged messages,
// under their ids, with DUP set, in the order first sent; then the rest.
func TestInflightAcksOutOfOrder(t *testing.T) {
	const window, n, phase1 = 8, 200, 150
	b := plainBroker(t, transport.Options{MaxInflight: window})
	sub := dialRaw(t, b.addr)
	sub.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "ooo", KeepAlive: 0})
	sub.expect(mqtt.Connack)
	sub.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "ooo/t", QoS: 1}}})
	sub.expect(mqtt.Suback)
	pub := dialRaw(t, b.addr)
	pub.connect("ooo-pub", 0)
	for i := range n {
		pub.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("ooo/t"), QoS: 1, ID: uint16(i + 1), Payload: fmt.Appendf(nil, "%03d", i)})
	}

	rng := rand.New(rand.NewPCG(7, 8))
	type held struct {
		payload string
		id      uint16
		stuck   bool // never acknowledged
	}
	var inflight []held // the model: received, not acknowledged, in order received
	received, stuck := 0, 0
	for {
		// The broker fills the window (or sends what is left).
		for len(inflight) < window && received < n {
			p := sub.expect(mqtt.Publish)
			require.Equal(t, fmt.Sprintf("%03d", received), string(p.Payload), "in publish order")
			for _, h := range inflight {
				require.NotEqual(t, h.id, p.ID, "packet id %d already in flight", p.ID)
			}
			s := stuck < 3 && rng.IntN(20) == 0
			if s {
				stuck++
			}
			inflight = append(inflight, held{string(p.Payload), p.ID, s})
			received++
		}
		if received >= phase1 {
			break // with a full window: nothing else is in flight
		}
		// Acknowledge a random part of what is not stuck, in random order.
		perm := rng.Perm(len(inflight))
		acked := map[int]bool{}
		for _, i := range perm[:1+rng.IntN(len(perm))] {
			if !inflight[i].stuck {
				sub.send(mqtt.Packet{Type: mqtt.Puback, ID: inflight[i].id})
				acked[i] = true
			}
		}
		rest := inflight[:0]
		for i, h := range inflight {
			if !acked[i] {
				rest = append(rest, h)
			}
		}
		inflight = rest
	}
	sub.nc.Close()

	// Reconnect: the session resumes.
	sub = dialRaw(t, b.addr)
	sub.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "ooo", KeepAlive: 0})
	p := sub.expect(mqtt.Connack)
	require.True(t, p.SessionPresent)
	for _, h := range inflight {
		p := sub.expect(mqtt.Publish)
		require.Equal(t, h.payload, string(p.Payload), "redelivered in the order first sent")
		require.Equal(t, h.id, p.ID)
		require.True(t, p.Dup)
		sub.send(mqtt.Packet{Type: mqtt.Puback, ID: p.ID})
	}
	for i := received; i < n; i++ {
		p := sub.expect(mqtt.Publish)
		require.Equal(t, fmt.Sprintf("%03d", i), string(p.Payload))
		require.False(t, p.Dup)
		sub.send(mqtt.Packet{Type: mqtt.Puback, ID: p.ID})
	}
}
