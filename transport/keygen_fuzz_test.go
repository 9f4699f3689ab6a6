package transport_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// FuzzKeygen sends an emitter/keygen/ request with an arbitrary body (each
// MASTER in it replaced by the broker's master key) and checks the answer
// against the request itself: Emitter's JSON response on the request's
// topic, then a connection that still works; status 400
// for a body that is not a keygen request; never 200 unless the request
// carries the master key; and with 200, a key that decrypts under the
// broker's license, carries exactly the permissions the type letters ask
// for, expires when ttl says, and opens the channel it was asked for.
func FuzzKeygen(f *testing.F) {
	for _, s := range []string{
		`{"key":"MASTER","channel":"a/b/","type":"rw"}`,
		`{"key":"MASTER","channel":"a/b/","type":"rwslpex","ttl":30}`,
		`{"key":"MASTER","channel":"a/+/c/","type":"s"}`,
		`{"key":"MASTER","channel":"a/#/","type":"r","ttl":-1}`,
		`{"key":"MASTER","channel":"a/","type":"r","ttl":1099511627776}`,
		`{"key":"MASTER","channel":"","type":"r"}`,
		`{"key":"MASTER","channel":"a b/","type":"r"}`,
		`{"key":"MASTER","channel":"a/?ttl=5","type":"w"}`,
		`{"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","channel":"a/","type":"r"}`,
		`{"key":"x","channel":"a/"}`,
		`{"key":"MASTER","channel":"a/","ttl":1.5}`,
		`{"key":"MASTER","channel":"é/","type":"r"}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	b := startBroker(f, engine.Options{}, transport.Options{})
	master := b.masterKey()
	lic := b.e.License()
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.ReplaceAll(body, []byte("MASTER"), []byte(master))
		c := dialRaw(t, b.addr)
		c.connect("fuzz-keygen", 0)
		// QoS 0: the PUBACK of a QoS 1 request waits requestAckDelay (50
		// ms) behind the response, which would make fuzzing crawl; Emitter's
		// Go client covers that order (TestEmitterClient).
		c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("emitter/keygen/"), Payload: body})
		start := time.Now()

		p := c.expect(mqtt.Publish)
		require.Equal(t, "emitter/keygen/", string(p.Topic))
		var resp struct {
			Req     uint16
			Status  int
			Message string
			Key     string
			Channel string
		}
		require.NoError(t, json.Unmarshal(p.Payload, &resp), "response %q", p.Payload)
		require.Zero(t, resp.Req)
		c.send(mqtt.Packet{Type: mqtt.Pingreq})
		c.expect(mqtt.Pingresp)

		var req struct {
			Key, Channel, Type string
			TTL                int64
		}
		if json.Unmarshal(body, &req) != nil {
			require.Equal(t, 400, resp.Status, "body %q is not a keygen request", body)
			return
		}
		if resp.Status != 200 {
			require.NotEmpty(t, resp.Message, "refusal %d without a message", resp.Status)
			require.Empty(t, resp.Key)
			return
		}
		require.Equal(t, master, req.Key, "a key minted without the master key")
		require.Equal(t, req.Channel, resp.Channel)
		k, err := lic.DecryptKey(resp.Key)
		require.NoError(t, err)
		require.True(t, lic.Validate(k), "minted key does not belong to the license")
		require.Equal(t, security.ParsePermissions(req.Type), k.Permissions())
		if req.TTL <= 0 {
			require.Zero(t, k.ExpiryRaw(), "ttl %d: the key must not expire", req.TTL)
		} else {
			want := start.Add(time.Duration(req.TTL) * time.Second)
			require.WithinDuration(t, want, k.Expires(), 2*time.Second, "ttl %d", req.TTL)
		}
		if !strings.ContainsAny(req.Channel, "+#") {
			require.True(t, k.ValidateChannel(req.Channel), "key for %q does not open it", req.Channel)
		}
	})
}
