package transport_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// FuzzSessionFile starts a server on an arbitrary session file
// (Options.SessionFile, read by New). New must either refuse it with an
// error or start; a started server must serve every session the file names
// (a client resuming it gets its CONNACK, then only well-formed messages,
// then its PINGRESP), take new clients, and shut down cleanly. The seeds are
// a file written by a real Shutdown (subscriptions, queued and in-flight
// QoS 1 and 2 messages, an incoming QoS 2 message waiting for its PUBREL)
// and hand-made damage.
func FuzzSessionFile(f *testing.F) {
	f.Add(realSessionFile(f))
	for _, s := range []string{
		`{"version":1,"sessions":[{"id":"a","subs":[{"filter":"x","channel":"x","plain":true,"qos":9}]}]}`,
		`{"version":1,"sessions":[{"id":"a","queue":[{"qos":7,"channel":"x","payload":"eA=="}],"inflight":[{"packet_id":0,"qos":1,"channel":"x"},{"packet_id":5,"qos":1},{"packet_id":5,"qos":2,"rel":true}]}]}`,
		`{"version":1,"sessions":[{"id":"a","subs":[{"filter":"x","channel":"x","plain":true,"qos":1}]},{"id":"a","subs":[{"filter":"y","channel":"y","plain":true,"qos":1}]}]}`,
		`{"version":1,"sessions":[{"id":"","next_id":65535,"in_qos2":[{"packet_id":0,"topic":""}]}]}`,
		`{"version":1,"sessions":[{"id":"k","subs":[{"filter":"AAAA/a/","channel":"a/#/?last=9","key":"AAAA","qos":2}]}]}`,
		`{"version":2}`, `{"version":1,"sessions":null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "sessions")
		require.NoError(t, os.WriteFile(file, data, 0o600))
		e, err := engine.New(engine.Options{Matching: topic.MQTT, Store: store.NewMemory(store.Options{})})
		require.NoError(t, err)
		defer func() { require.NoError(t, e.Close()) }()
		srv, err := transport.New(e, transport.Options{PlainTopics: true, SessionFile: file,
			MaxInflight: 4, QueueSize: 8, WriteTimeout: time.Second})
		if err != nil {
			require.ErrorContains(t, err, "session file")
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()

		// The sessions the file names, as far as it parses.
		var named struct{ Sessions []struct{ ID string } }
		_ = json.Unmarshal(data, &named)
		ids := []string{"fresh"}
		for _, s := range named.Sessions[:min(len(named.Sessions), 3)] {
			if s.ID != "" && mqtt.ValidString(s.ID) {
				ids = append(ids, s.ID)
			}
		}
		for _, id := range ids {
			c := dialRaw(t, ln.Addr().String())
			c.send(mqtt.Packet{Type: mqtt.Connect, ClientID: id})
			require.Equal(t, mqtt.Accepted, c.expect(mqtt.Connack).ReturnCode)
			c.send(mqtt.Packet{Type: mqtt.Pingreq})
			for {
				p, err := c.read()
				require.NoError(t, err, "session %q", id)
				if p.Type == mqtt.Pingresp {
					break
				}
				switch p.Type {
				case mqtt.Publish:
					require.LessOrEqual(t, p.QoS, mqtt.ExactlyOnce)
					switch p.QoS {
					case mqtt.AtLeastOnce:
						c.send(mqtt.Packet{Type: mqtt.Puback, ID: p.ID})
					case mqtt.ExactlyOnce:
						c.send(mqtt.Packet{Type: mqtt.Pubrec, ID: p.ID})
					}
				case mqtt.Pubrel:
					c.send(mqtt.Packet{Type: mqtt.Pubcomp, ID: p.ID})
				default:
					t.Fatalf("session %q: unexpected %v", id, p.Type)
				}
			}
			c.nc.Close()
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.ErrorIs(t, <-errc, transport.ErrServerClosed)
	})
}

// realSessionFile returns the session file a server writes on Shutdown with
// a persistent session holding a subscription, messages queued while its
// client was away, a QoS 1 and a QoS 2 message in flight, and an incoming
// QoS 2 message whose PUBREL has not come.
func realSessionFile(t testing.TB) []byte {
	file := filepath.Join(t.TempDir(), "sessions")
	sv := startSessionServer(t, file)
	srv := sv.srv

	sub := dialRaw(t, sv.addr)
	sub.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "kept"})
	sub.expect(mqtt.Connack)
	sub.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{
		{Filter: "s/1", QoS: 1}, {Filter: "s/2", QoS: 2}}})
	sub.expect(mqtt.Suback)
	sub.send(mqtt.Packet{Type: mqtt.Publish, QoS: 2, ID: 9, Topic: []byte("s/in"), Payload: []byte("no pubrel")})
	sub.expect(mqtt.Pubrec)

	pub := dialRaw(t, sv.addr)
	pub.connect("pub", 0)
	pub.send(mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: 1, Topic: []byte("s/1"), Payload: []byte("in flight 1")})
	pub.expect(mqtt.Puback)
	pub.send(mqtt.Packet{Type: mqtt.Publish, QoS: 2, ID: 2, Topic: []byte("s/2"), Payload: []byte("in flight 2")})
	pub.expect(mqtt.Pubrec)
	pub.send(mqtt.Packet{Type: mqtt.Pubrel, ID: 2})
	pub.expect(mqtt.Pubcomp)
	sub.expect(mqtt.Publish)
	sub.expect(mqtt.Publish)
	sub.nc.Close() // away, nothing acknowledged
	require.Eventually(t, func() bool { return srv.Stats().Connections == 1 }, 5*time.Second, time.Millisecond)
	for i, topic := range []string{"s/1", "s/2", "s/1"} {
		pub.send(mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: uint16(3 + i), Topic: []byte(topic), Payload: []byte("queued")})
		pub.expect(mqtt.Puback)
	}
	pub.nc.Close()

	sv.stop(t)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return b
}

// TestSessionFileDamage: a session the file holds in a state Shutdown cannot
// have written (here a queued message without a channel, which the server
// would crash sending) is dropped, and the file's other sessions are served
// as saved.
func TestSessionFileDamage(t *testing.T) {
	var f map[string]any
	require.NoError(t, json.Unmarshal(realSessionFile(t), &f))
	sessions := f["sessions"].([]any)
	require.Len(t, sessions, 1)
	var bad map[string]any
	b, err := json.Marshal(sessions[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &bad))
	bad["id"] = "bad"
	bad["queue"].([]any)[1].(map[string]any)["channel"] = ""
	dup := map[string]any{"id": "kept", "subs": []any{}}
	f["sessions"] = append(sessions, bad, dup)
	data, err := json.Marshal(f)
	require.NoError(t, err)

	file := filepath.Join(t.TempDir(), "sessions")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	b2 := startBroker(t, engine.Options{Matching: topic.MQTT}, transport.Options{PlainTopics: true, SessionFile: file})
	require.Equal(t, 1, b2.srv.Stats().Sessions)

	c := dialRaw(t, b2.addr)
	c.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "kept"})
	require.True(t, c.expect(mqtt.Connack).SessionPresent)
	var got []string
	for range 5 { // two in flight, redelivered, then three queued
		p := c.expect(mqtt.Publish)
		got = append(got, string(p.Topic)+" "+string(p.Payload))
	}
	require.Equal(t, []string{"s/1 in flight 1", "s/2 in flight 2", "s/1 queued", "s/2 queued", "s/1 queued"}, got)
}
