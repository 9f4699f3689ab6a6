package transport_test

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/transport"
)

func pahoConnect(t *testing.T, url, id string, clean bool) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

type pahoMsg struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

func pahoSubscribe(t *testing.T, c paho.Client, filter string, qos byte) <-chan pahoMsg {
	t.Helper()
	ch := make(chan pahoMsg, 100)
	tok := c.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
		ch <- pahoMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	require.Equal(t, []byte{qos}, []byte{tok.(*paho.SubscribeToken).Result()[filter]})
	return ch
}

func pahoPublish(t *testing.T, c paho.Client, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
}

// TestPaho runs paho.mqtt.golang against the broker over TCP and WebSocket
// with plain topics: every combination of publish and subscription QoS is
// delivered at the lower of the two, in order, on the publisher's topic.
func TestPaho(t *testing.T) {
	b := startBroker(t, engine.Options{Matching: topic.MQTT}, transport.Options{PlainTopics: true})
	for _, url := range []string{"tcp://" + b.addr, "ws://" + b.addr + "/mqtt"} {
		t.Run(url[:3], func(t *testing.T) {
			sub := pahoConnect(t, url, "sub-"+url[:2], true)
			pub := pahoConnect(t, url, "pub-"+url[:2], true)
			for subQoS := range byte(3) {
				filter := fmt.Sprintf("paho/%s/%d/+", url[:2], subQoS)
				ch := pahoSubscribe(t, sub, filter, subQoS)
				for pubQoS := range byte(3) {
					topic := fmt.Sprintf("paho/%s/%d/x", url[:2], subQoS)
					for i := range 3 {
						pahoPublish(t, pub, topic, pubQoS, false, fmt.Sprintf("%d-%d", pubQoS, i))
					}
					for i := range 3 {
						m := recv(t, ch)
						require.Equal(t, pahoMsg{topic, fmt.Sprintf("%d-%d", pubQoS, i), min(subQoS, pubQoS), false}, m)
					}
				}
			}
		})
	}
}

// TestPahoKeyed uses Emitter topics from an MQTT client: the key authorises,
// the delivery topic is the bare channel.
// paho routes by topic, and "room/a/" does not match the filter
// "KEY/room/", so the messages arrive at the default handler.
func TestPahoKeyed(t *testing.T) {
	b := startBroker(t, engine.Options{}, transport.Options{})
	key, err := b.e.License().MintWithMaster(b.masterKey(), keySpec("room/#/", "rw"))
	require.NoError(t, err)
	ch := make(chan pahoMsg, 10)
	o := paho.NewClientOptions().AddBroker("tcp://" + b.addr).SetClientID("keyed").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			ch <- pahoMsg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
		})
	c := paho.NewClient(o)
	require.NoError(t, waitToken(c.Connect()))
	defer c.Disconnect(100)
	require.NoError(t, waitToken(c.Subscribe(key+"/room/", 1, nil)))
	pahoPublish(t, c, key+"/room/a/?ttl=0", 1, false, "hello")
	require.Equal(t, pahoMsg{"room/a/", "hello", 1, false}, recv(t, ch))

	// A key for another channel: the error comes on emitter/error/ with
	// the packet id, and the message goes nowhere.
	pahoPublish(t, c, key+"/other/", 1, false, "denied")
	m := recv(t, ch)
	require.Equal(t, "emitter/error/", m.topic)
	require.Regexp(t, `^\{"req":\d+,"status":401,"message":"the security key provided is not authorized to perform this operation"\}$`, m.payload)
	pahoPublish(t, c, key+"/room/+/", 0, false, "wildcard")
	m = recv(t, ch)
	require.Equal(t, `{"status":403,"message":"the request is understood, but it has been refused or access is not allowed"}`, m.payload)
	pahoPublish(t, c, key+"/room/b", 0, false, "no slash")
	m = recv(t, ch)
	require.Equal(t, `{"status":400,"message":"the request was invalid or cannot be otherwise served"}`, m.payload)
}

func waitToken(tok paho.Token) error {
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("timeout")
	}
	return tok.Error()
}
