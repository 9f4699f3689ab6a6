package transport_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// topicAuth allows topics under "open/" only.
type topicAuth struct{}

func (topicAuth) Connect(transport.ClientInfo, []byte) bool { return true }
func (topicAuth) Publish(_ transport.ClientInfo, topic string) bool {
	return strings.HasPrefix(topic, "open/")
}
func (topicAuth) Subscribe(_ transport.ClientInfo, filter string) bool {
	return strings.HasPrefix(filter, "open/") || filter == "#"
}

func TestPlainTopicAuthorizer(t *testing.T) {
	b := plainBroker(t, transport.Options{Authorizer: topicAuth{}})
	c := dialRaw(t, b.addr)
	c.connect("auth", 0)
	c.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{
		{Filter: "open/+", QoS: 1}, {Filter: "closed/+", QoS: 1}, {Filter: "bad/#/x", QoS: 0}, {Filter: "#"},
	}})
	require.Equal(t, []byte{1, mqtt.SubackFailure, mqtt.SubackFailure, 0}, c.expect(mqtt.Suback).ReturnCodes)

	// A refused publish is acknowledged and dropped; so is one to a '$'
	// topic; an allowed one arrives (once, at the highest QoS of the two
	// matching subscriptions).
	c.send(mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: 2, Topic: []byte("closed/x"), Payload: []byte("no")})
	require.Equal(t, uint16(2), c.expect(mqtt.Puback).ID)
	c.send(mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: 3, Topic: []byte("$SYS/x"), Payload: []byte("no")})
	require.Equal(t, uint16(3), c.expect(mqtt.Puback).ID)
	c.send(mqtt.Packet{Type: mqtt.Publish, QoS: 1, ID: 4, Topic: []byte("open/x"), Payload: []byte("yes")})
	p := c.expect(mqtt.Publish)
	require.Equal(t, "open/x", string(p.Topic))
	require.Equal(t, mqtt.AtLeastOnce, p.QoS)
	c.send(mqtt.Packet{Type: mqtt.Puback, ID: p.ID})
	require.Equal(t, uint16(4), c.expect(mqtt.Puback).ID)
	c.send(mqtt.Packet{Type: mqtt.Pingreq})
	c.expect(mqtt.Pingresp) // and nothing else before it

	// A wildcard in a plain topic name is a protocol violation.
	c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("open/+"), Payload: []byte("bad")})
	c.closed()
}

func TestZeroLengthClientID(t *testing.T) {
	b := plainBroker(t, transport.Options{})
	for range 2 { // two anonymous clients do not take each other over
		c := dialRaw(t, b.addr)
		c.send(mqtt.Packet{Type: mqtt.Connect, CleanSession: true})
		require.Equal(t, mqtt.Accepted, c.expect(mqtt.Connack).ReturnCode)
	}
	require.Equal(t, 2, b.srv.Stats().Sessions)
}

func TestSessionExpiry(t *testing.T) {
	b := plainBroker(t, transport.Options{SessionExpiry: 50 * time.Millisecond})
	c := dialRaw(t, b.addr)
	c.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "brief"})
	c.expect(mqtt.Connack)
	c.send(mqtt.Packet{Type: mqtt.Disconnect})
	c.closed()
	require.Eventually(t, func() bool { return b.srv.Stats().Sessions == 0 }, 5*time.Second, time.Millisecond)
	c = dialRaw(t, b.addr)
	c.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "brief"})
	require.False(t, c.expect(mqtt.Connack).SessionPresent)
}

// TestEmitterUnsubscribe: after UNSUBSCRIBE of KEY/channel/ nothing more
// arrives; an unsubscribe with a bad key is reported on emitter/error/ and
// still acknowledged.
func TestEmitterUnsubscribe(t *testing.T) {
	b := plainBroker(t, transport.Options{})
	key, err := b.e.License().MintWithMaster(b.masterKey(), keySpec("u/", "rw"))
	require.NoError(t, err)
	c := dialRaw(t, b.addr)
	c.connect("unsub", 0)
	c.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: key + "/u/?last=0"}}})
	require.Equal(t, []byte{0}, c.expect(mqtt.Suback).ReturnCodes)
	c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte(key + "/u/"), Payload: []byte("one")})
	require.Equal(t, "u/", string(c.expect(mqtt.Publish).Topic))
	c.send(mqtt.Packet{Type: mqtt.Unsubscribe, ID: 2, Filters: []string{key + "/u/"}})
	c.expect(mqtt.Unsuback)
	c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte(key + "/u/"), Payload: []byte("two")})
	c.send(mqtt.Packet{Type: mqtt.Unsubscribe, ID: 3, Filters: []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/u/"}})
	p := c.expect(mqtt.Publish)
	require.Equal(t, "emitter/error/", string(p.Topic))
	require.Contains(t, string(p.Payload), `"req":3,"status":401`)
	require.Equal(t, uint16(3), c.expect(mqtt.Unsuback).ID)
}

// TestWillOnTakeover: a connection taken over by a new one with the same
// client id (here a clean session replacing it) did not DISCONNECT, so its
// will is published.
func TestWillOnTakeover(t *testing.T) {
	b := plainBroker(t, transport.Options{})
	watcher := dialRaw(t, b.addr)
	watcher.connect("watcher", 0)
	watcher.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "wills/#"}}})
	watcher.expect(mqtt.Suback)

	first := dialRaw(t, b.addr)
	first.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "dup", Will: true, WillTopic: "wills/dup", WillPayload: []byte("gone")})
	first.expect(mqtt.Connack)
	second := dialRaw(t, b.addr)
	second.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "dup", CleanSession: true})
	require.False(t, second.expect(mqtt.Connack).SessionPresent)
	first.closed()
	p := watcher.expect(mqtt.Publish)
	require.Equal(t, "wills/dup", string(p.Topic))
	require.Equal(t, "gone", string(p.Payload))
	require.Eventually(t, func() bool { return b.srv.Stats().Sessions == 2 }, 5*time.Second, time.Millisecond)
}
