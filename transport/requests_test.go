package transport_test

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// request publishes payload to topic at qos (packet id 7 for QoS 1) and
// returns the topic and body of the response, checking that the PUBACK of a
// QoS 1 request comes after it, as in Emitter.
func (c *rawClient) request(topic, payload string, qos mqtt.QoS) (string, string) {
	c.t.Helper()
	p := mqtt.Packet{Type: mqtt.Publish, Topic: []byte(topic), Payload: []byte(payload), QoS: qos}
	if qos > 0 {
		p.ID = 7
	}
	c.send(p)
	resp := c.expect(mqtt.Publish)
	out := [2]string{string(resp.Topic), string(resp.Payload)}
	if qos > 0 {
		require.Equal(c.t, uint16(7), c.expect(mqtt.Puback).ID)
	}
	return out[0], out[1]
}

// TestKeybanAndMeRequests pins the exact JSON of emitter/keyban/ and
// emitter/me/ answers and errors, with req echoed for QoS 1 and absent for
// QoS 0, and checks that a ban and an unban take effect at once.
func TestKeybanAndMeRequests(t *testing.T) {
	b := startBroker(t, engine.Options{}, transport.Options{})
	master := b.masterKey()
	key, err := b.e.License().Mint(security.KeySpec{Channel: "kb/", Permissions: security.ParsePermissions("rw")})
	require.NoError(t, err)
	c := dialRaw(t, b.addr)
	c.connect("kb-client", 0)

	// A subscription with the key works until the key is banned.
	subscribe := func() string {
		c.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 3, Subscriptions: []mqtt.Subscription{{Filter: key + "/kb/"}}})
		p, err := c.read()
		require.NoError(t, err)
		if p.Type == mqtt.Publish { // the error on emitter/error/, then SUBACK 0x80
			out := string(p.Topic) + " " + string(p.Payload)
			require.Equal(t, []byte{0x80}, c.expect(mqtt.Suback).ReturnCodes)
			return out
		}
		require.Equal(t, mqtt.Suback, p.Type)
		require.Equal(t, []byte{0}, p.ReturnCodes)
		c.send(mqtt.Packet{Type: mqtt.Unsubscribe, ID: 4, Filters: []string{key + "/kb/"}})
		c.expect(mqtt.Unsuback)
		return "ok"
	}
	require.Equal(t, "ok", subscribe())

	ban := fmt.Sprintf(`{"secret":%q,"target":%q,"banned":true}`, master, key)
	topic, body := c.request("emitter/keyban/", ban, 1)
	require.Equal(t, "emitter/keyban/", topic)
	require.Equal(t, `{"req":7,"status":200,"banned":true}`, body)
	require.True(t, b.e.Banned(key))
	require.Equal(t, `emitter/error/ {"req":3,"status":401,"message":"the security key provided is not authorized to perform this operation"}`, subscribe())

	unban := fmt.Sprintf(`{"secret":%q,"target":%q,"banned":false}`, master, key)
	_, body = c.request("emitter/keyban/", unban, 0)
	require.Equal(t, `{"status":200,"banned":false}`, body)
	require.Equal(t, "ok", subscribe(), "an unban takes effect at once")

	// Errors: a key that is not a master key, a target of no contract, bad JSON.
	_, body = c.request("emitter/keyban/", fmt.Sprintf(`{"secret":%q,"target":%q,"banned":true}`, key, key), 1)
	require.Equal(t, `{"req":7,"status":401,"message":"the security key provided is not authorized to perform this operation"}`, body)
	_, body = c.request("emitter/keyban/", fmt.Sprintf(`{"secret":%q,"target":"nonsense","banned":true}`, master), 1)
	require.Equal(t, `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`, body)
	_, body = c.request("emitter/keyban/", `{"secret":`, 1)
	require.Equal(t, `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`, body)

	// me: the connection's 26-character id, whatever the payload.
	var id string
	for _, payload := range []string{"", "null"} {
		topic, body = c.request("emitter/me/", payload, 1)
		require.Equal(t, "emitter/me/", topic)
		m := regexp.MustCompile(`^\{"req":7,"status":200,"id":"([A-Z2-7]{26})"\}$`).FindStringSubmatch(body)
		require.NotNil(t, m, body)
		if id != "" {
			require.Equal(t, id, m[1], "the id is stable")
		}
		id = m[1]
	}
	// It is the id private channels are made for.
	extend, err := b.e.License().Mint(security.KeySpec{Channel: "p/", Permissions: security.ParsePermissions("rwe")})
	require.NoError(t, err)
	_, body = c.request("emitter/keygen/", fmt.Sprintf(`{"key":%q,"channel":"p/","type":"rw"}`, extend), 1)
	require.Contains(t, body, `"channel":"p/`+id+`/"`)

	_, body = c.request("emitter/nothing/", "", 1)
	require.Equal(t, `{"req":7,"status":404,"message":"the resource requested does not exist"}`, body)
}

// TestPythonSDKOptions publishes as Emitter's Python SDK does, with a
// trailing '&' or an empty query, and checks that the message is delivered
// (and, with ttl, stored) as Emitter delivers it.
func TestPythonSDKOptions(t *testing.T) {
	b := startBroker(t, engine.Options{}, transport.Options{})
	key, err := b.e.License().Mint(security.KeySpec{Channel: "py/", Permissions: security.ParsePermissions("rwsl")})
	require.NoError(t, err)
	c := dialRaw(t, b.addr)
	c.connect("py-client", 0)
	c.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: key + "/py/"}}})
	require.Equal(t, []byte{0}, c.expect(mqtt.Suback).ReturnCodes)
	for _, topic := range []string{key + "/py/?ttl=60&", key + "/py/?"} {
		c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte(topic), Payload: []byte(topic)})
		p := c.expect(mqtt.Publish)
		require.Equal(t, "py/", string(p.Topic))
		require.Equal(t, topic, string(p.Payload))
	}
	// The first was stored: a new subscriber asking for history gets it.
	d := dialRaw(t, b.addr)
	d.connect("py-history", 0)
	d.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: key + "/py/?last=5"}}})
	p := d.expect(mqtt.Publish)
	require.Equal(t, key+"/py/?ttl=60&", string(p.Payload))
	require.Equal(t, []byte{0}, d.expect(mqtt.Suback).ReturnCodes)
}

// TestHistoryRequest pins emitter/history/: Emitter's JSON (no status, ids
// and payloads in standard base64), the key inside the channel, paging with
// startFromID, and Emitter's errors.
func TestHistoryRequest(t *testing.T) {
	b := startBroker(t, engine.Options{}, transport.Options{})
	key, err := b.e.License().Mint(security.KeySpec{Channel: "h/", Permissions: security.ParsePermissions("rwsl")})
	require.NoError(t, err)
	readOnly, err := b.e.License().Mint(security.KeySpec{Channel: "h/", Permissions: security.ParsePermissions("r")})
	require.NoError(t, err)
	pub, err := b.e.Connect(engine.ConnOptions{Trusted: true})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, pub.Publish(t.Context(), "h/", fmt.Appendf(nil, "m%d", i), engine.WithTTL(time.Hour)))
	}
	stored, err := pub.History(t.Context(), "h/")
	require.NoError(t, err)
	require.Len(t, stored, 5)
	entry := func(i int) string {
		return fmt.Sprintf(`{"id":"%s","channel":"h/","payload":"%s"}`, stored[i].ID, base64.StdEncoding.EncodeToString(stored[i].Payload))
	}

	c := dialRaw(t, b.addr)
	c.connect("history-client", 0)
	topic, body := c.request("emitter/history/", fmt.Sprintf(`{"key":"ignored","channel":"%s/h/?last=2"}`, key), 1)
	require.Equal(t, "emitter/history/", topic)
	require.Equal(t, `{"req":7,"messages":[`+entry(3)+`,`+entry(4)+`]}`, body)

	// The next page after the first message.
	_, body = c.request("emitter/history/", fmt.Sprintf(`{"channel":"%s/h/?last=3","startFromID":"%s"}`, key, stored[0].ID), 0)
	require.Equal(t, `{"messages":[`+entry(1)+`,`+entry(2)+`,`+entry(3)+`]}`, body)
	_, body = c.request("emitter/history/", fmt.Sprintf(`{"channel":"%s/h/","startFromID":"%s"}`, key, stored[4].ID), 0)
	require.Equal(t, `{"messages":[]}`, body)

	for _, tc := range []struct{ payload, want string }{
		{fmt.Sprintf(`{"channel":"%s/h/?last=2"}`, readOnly), `{"req":7,"status":401,"message":"the security key provided is not authorized to perform this operation"}`},
		{`{"channel":"h/?last=2"}`, `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`}, // "h" is taken for the key
		{fmt.Sprintf(`{"channel":"%s/h b/"}`, key), `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`},
		{fmt.Sprintf(`{"channel":"%s/h/","startFromID":"not base64"}`, key), `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`},
		{`{"channel":`, `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`},
	} {
		_, body = c.request("emitter/history/", tc.payload, 1)
		require.Equal(t, tc.want, body, tc.payload)
	}
}

// TestLinkRequest pins emitter/link/ and publishing to a link name: the
// response, the link in emitter/me/, subscribe:true subscribing the client
// when the key has r, the key checked on use, and Emitter's errors.
func TestLinkRequest(t *testing.T) {
	b := startBroker(t, engine.Options{}, transport.Options{})
	key, err := b.e.License().Mint(security.KeySpec{Channel: "lk/#/", Permissions: security.ParsePermissions("rwsl")})
	require.NoError(t, err)
	writeOnly, err := b.e.License().Mint(security.KeySpec{Channel: "lk/#/", Permissions: security.ParsePermissions("w")})
	require.NoError(t, err)
	c := dialRaw(t, b.addr)
	c.connect("link-client", 0)

	topic, body := c.request("emitter/link/", fmt.Sprintf(`{"name":"l1","key":%q,"channel":"lk/a/?ttl=30","subscribe":true,"private":true}`, key), 1)
	require.Equal(t, "emitter/link/", topic)
	require.Equal(t, `{"req":7,"status":200,"name":"l1","channel":"lk/a/?ttl=30"}`, body)
	_, body = c.request("emitter/link/", fmt.Sprintf(`{"name":"w","key":%q,"channel":"lk/b/","subscribe":true}`, writeOnly), 0)
	require.Equal(t, `{"status":200,"name":"w","channel":"lk/b/"}`, body)
	_, body = c.request("emitter/me/", "", 1)
	require.Regexp(t, `^\{"req":7,"status":200,"id":"[A-Z2-7]{26}","links":\{"l1":"lk/a/\?ttl=30","w":"lk/b/"\}\}$`, body)

	// Through l1: delivered to the subscription the link made, and stored.
	c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("l1"), Payload: []byte("via l1"), QoS: 1, ID: 9})
	p := c.expect(mqtt.Publish)
	require.Equal(t, "lk/a/", string(p.Topic))
	require.Equal(t, "via l1", string(p.Payload))
	require.Equal(t, uint16(9), c.expect(mqtt.Puback).ID)
	stored, err := b.e.Connect(engine.ConnOptions{Trusted: true})
	require.NoError(t, err)
	got, err := stored.History(t.Context(), "lk/a/")
	require.NoError(t, err)
	require.Len(t, got, 1)

	// Through w: the write-only key publishes, and made no subscription.
	got2, err := stored.Subscribe(t.Context(), "lk/b/", nil)
	require.NoError(t, err)
	c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("w"), Payload: []byte("via w")})
	m, err := got2.Next(t.Context())
	require.NoError(t, err)
	require.Equal(t, "via w", m.String())
	c.send(mqtt.Packet{Type: mqtt.Pingreq})
	c.expect(mqtt.Pingresp) // nothing arrived for lk/b/ before it

	for _, tc := range []struct{ payload, want string }{
		{fmt.Sprintf(`{"name":"abc","key":%q,"channel":"lk/a/"}`, key), `{"req":7,"status":400,"message":"the link must be an alphanumeric string of 1 or 2 characters"}`},
		{fmt.Sprintf(`{"name":"x","key":%q,"channel":"lk a/"}`, key), `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`},
		{`{"name":`, `{"req":7,"status":400,"message":"the request was invalid or cannot be otherwise served"}`},
	} {
		_, body = c.request("emitter/link/", tc.payload, 1)
		require.Equal(t, tc.want, body, tc.payload)
	}
	// A link whose key is refused when used answers on emitter/error/.
	_, body = c.request("emitter/link/", `{"name":"bk","key":"nonsense","channel":"lk/c/"}`, 0)
	require.Equal(t, `{"status":200,"name":"bk","channel":"lk/c/"}`, body)
	c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("bk"), Payload: []byte("x"), QoS: 1, ID: 11})
	p = c.expect(mqtt.Publish)
	require.Equal(t, errorTopic, string(p.Topic))
	require.Equal(t, `{"req":11,"status":401,"message":"the security key provided is not authorized to perform this operation"}`, string(p.Payload))
	c.expect(mqtt.Puback)

	_, body = c.request("emitter/presence/", "{}", 1)
	require.Equal(t, `{"req":7,"status":404,"message":"the resource requested does not exist"}`, body)
}

const errorTopic = "emitter/error/"
