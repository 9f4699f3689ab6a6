package transport_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// FuzzHistoryRequest sends an emitter/history/ request with an arbitrary
// body (KEY in it replaced by a key with l for f/) and checks the answer: a
// JSON body on the request's topic and a connection that still works; 400
// for a body that is not a history request; messages only with a valid key,
// at most as many as stored, each one of the stored messages, oldest first.
func FuzzHistoryRequest(f *testing.F) {
	for _, s := range []string{
		`{"channel":"KEY/f/?last=3"}`,
		`{"channel":"KEY/f/"}`,
		`{"channel":"KEY/f/?last=0"}`,
		`{"channel":"KEY/f/?last=-1"}`,
		`{"channel":"KEY/f/?from=1&until=99999999999","startFromID":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
		`{"channel":"KEY/f/","startFromID":"x"}`,
		`{"channel":"KEY/+/"}`,
		`{"channel":"KEY/g/"}`,
		`{"channel":"f/"}`,
		`{"channel":3}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	b := startBroker(f, engine.Options{}, transport.Options{})
	key, err := b.e.License().Mint(security.KeySpec{Channel: "f/", Permissions: security.ParsePermissions("rwsl")})
	require.NoError(f, err)
	pub, err := b.e.Connect(engine.ConnOptions{Trusted: true})
	require.NoError(f, err)
	stored := map[string]bool{}
	for i := range 20 {
		p := fmt.Sprintf("m%02d", i)
		stored[p] = true
		require.NoError(f, pub.Publish(f.Context(), "f/", []byte(p), engine.WithTTL(time.Hour)))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.ReplaceAll(body, []byte("KEY"), []byte(key))
		c := dialRaw(t, b.addr)
		c.connect("fuzz-history", 0)
		c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("emitter/history/"), Payload: body})
		p := c.expect(mqtt.Publish)
		require.Equal(t, "emitter/history/", string(p.Topic))
		var resp struct {
			Req      uint16
			Status   int
			Messages []struct {
				ID      engine.ID
				Channel string
				Payload []byte
			}
		}
		require.NoError(t, json.Unmarshal(p.Payload, &resp), "response %q", p.Payload)
		c.send(mqtt.Packet{Type: mqtt.Pingreq})
		c.expect(mqtt.Pingresp)
		var req struct{ Channel string }
		if json.Unmarshal(body, &req) != nil {
			require.Equal(t, 400, resp.Status, "body %q is not a history request", body)
			return
		}
		if resp.Status != 0 {
			require.Empty(t, resp.Messages)
			return
		}
		require.True(t, bytes.HasPrefix([]byte(req.Channel), []byte(key+"/")), "messages without the key: %q", body)
		require.LessOrEqual(t, len(resp.Messages), len(stored))
		for i, m := range resp.Messages {
			require.True(t, stored[string(m.Payload)], "message %q was never stored", m.Payload)
			require.Equal(t, "f/", m.Channel)
			if i > 0 {
				require.Negative(t, resp.Messages[i-1].ID.Compare(m.ID), "not oldest first")
			}
		}
	})
}
