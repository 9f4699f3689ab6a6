package transport_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// FuzzServer sends a valid CONNECT followed by arbitrary bytes to a running
// broker (plain topics and keyed ones, MQTT matching, small limits) and then
// checks that the broker still serves a well-behaved client: no input may
// crash it, wedge it or corrupt another client's session.
func FuzzServer(f *testing.F) {
	key := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	seeds := [][]mqtt.Packet{
		{{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "a/+", QoS: 2}}},
			{Type: mqtt.Publish, QoS: 2, ID: 2, Topic: []byte("a/b"), Payload: []byte("x")},
			{Type: mqtt.Pubrel, ID: 2}, {Type: mqtt.Pubrec, ID: 1}, {Type: mqtt.Pubcomp, ID: 1}},
		{{Type: mqtt.Publish, QoS: 1, ID: 1, Topic: []byte("emitter/keygen/"), Payload: []byte(`{"key":"x","channel":"a/"}`)},
			{Type: mqtt.Publish, Topic: []byte(key + "/a/?ttl=5"), Payload: []byte("y")}},
		{{Type: mqtt.Subscribe, ID: 3, Subscriptions: []mqtt.Subscription{{Filter: key + "/a/#"}, {Filter: "#"}}},
			{Type: mqtt.Unsubscribe, ID: 4, Filters: []string{"#", key + "/a/#"}}, {Type: mqtt.Pingreq}, {Type: mqtt.Disconnect}},
		{{Type: mqtt.Publish, Retain: true, Topic: []byte("r/x"), Payload: []byte("kept")},
			{Type: mqtt.Publish, QoS: 1, ID: 9, Topic: []byte("$SYS/x")}, {Type: mqtt.Puback, ID: 77}},
	}
	for _, seq := range seeds {
		var b []byte
		for _, p := range seq {
			b, _ = p.Append(b)
		}
		f.Add(b)
	}
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	b := startBroker(f, engine.Options{Matching: topic.MQTT},
		transport.Options{PlainTopics: true, MaxPacketSize: 4096, QueueSize: 16, WriteTimeout: time.Second})
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		connect, _ := (&mqtt.Packet{Type: mqtt.Connect, ClientID: "fuzz", KeepAlive: 5}).Append(nil)
		_, _ = nc.Write(append(connect, data...))
		// Read what comes back for a moment, then go away abruptly.
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		_, _ = io.Copy(io.Discard, nc)
		nc.Close()

		// A well-behaved client still gets service.
		c := dialRaw(t, b.addr)
		c.connect("healthy", 0)
		c.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "health", QoS: 1}}})
		c.expect(mqtt.Suback)
		c.send(mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: 2, Topic: []byte("health"), Payload: []byte("ok")})
		for {
			p, err := c.read()
			if err != nil {
				t.Fatalf("healthy client: %v", err)
			}
			if p.Type == mqtt.Publish && string(p.Topic) == "health" {
				break
			}
		}
		c.nc.Close()
	})
}
