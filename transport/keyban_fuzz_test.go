package transport_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// FuzzKeyban sends an emitter/keyban/ request with an arbitrary body (MASTER
// and TARGET in it replaced by the broker's master key and a key of its
// license) and checks the answer against the request: Emitter's JSON on the
// request's topic and a connection that still works; 400 for a body that is
// not a keyban request; 200 only with the master key and a target of the
// license, and then the target banned exactly when the request says so.
func FuzzKeyban(f *testing.F) {
	for _, s := range []string{
		`{"secret":"MASTER","target":"TARGET","banned":true}`,
		`{"secret":"MASTER","target":"TARGET","banned":false}`,
		`{"secret":"MASTER","target":"TARGET"}`,
		`{"secret":"TARGET","target":"TARGET","banned":true}`,
		`{"secret":"MASTER","target":"MASTER","banned":true}`,
		`{"secret":"MASTER","target":"x","banned":true}`,
		`{"secret":"MASTER","target":"TARGET","banned":1}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	b := startBroker(f, engine.Options{}, transport.Options{})
	master := b.masterKey()
	target, err := b.e.License().Mint(security.KeySpec{Channel: "t/", Permissions: security.ParsePermissions("rw")})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.ReplaceAll(body, []byte("MASTER"), []byte(master))
		body = bytes.ReplaceAll(body, []byte("TARGET"), []byte(target))
		masterBanned := b.e.Banned(master)
		c := dialRaw(t, b.addr)
		c.connect("fuzz-keyban", 0)
		c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("emitter/keyban/"), Payload: body})
		p := c.expect(mqtt.Publish)
		require.Equal(t, "emitter/keyban/", string(p.Topic))
		var resp struct {
			Req     uint16
			Status  int
			Message string
			Banned  *bool
		}
		require.NoError(t, json.Unmarshal(p.Payload, &resp), "response %q", p.Payload)
		require.Zero(t, resp.Req)
		c.send(mqtt.Packet{Type: mqtt.Pingreq})
		c.expect(mqtt.Pingresp)

		var req struct {
			Secret, Target string
			Banned         bool
		}
		if json.Unmarshal(body, &req) != nil {
			require.Equal(t, 400, resp.Status, "body %q is not a keyban request", body)
			return
		}
		if resp.Status != 200 {
			require.NotEmpty(t, resp.Message, "refusal %d without a message", resp.Status)
			require.Nil(t, resp.Banned)
			return
		}
		require.Equal(t, master, req.Secret, "a ban without the master key")
		require.False(t, masterBanned, "a banned master key banned")
		require.Contains(t, []string{master, target}, req.Target)
		require.NotNil(t, resp.Banned)
		require.Equal(t, req.Banned, *resp.Banned)
		require.Equal(t, req.Banned, b.e.Banned(req.Target))
	})
}
