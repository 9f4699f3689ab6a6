package transport_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// FuzzLinkRequest sends an emitter/link/ request with an arbitrary body (KEY
// in it replaced by a key for lf/) and checks the answer: Emitter's JSON on
// the request's topic and a connection that still works; 400 for a body
// that is not a link request; 200 only for a valid name and a static channel
// that parses, echoed back and listed by emitter/me/.
func FuzzLinkRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"l1","key":"KEY","channel":"lf/a/?ttl=30","subscribe":true}`,
		`{"name":"Z","key":"KEY","channel":"lf/"}`,
		`{"name":"abc","key":"KEY","channel":"lf/"}`,
		`{"name":"l2","key":"KEY","channel":"lf/+/"}`,
		`{"name":"l3","key":"x","channel":"lf/b/","subscribe":true}`,
		`{"name":"","channel":"lf/"}`,
		`{"name":"é","channel":"lf/"}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	b := startBroker(f, engine.Options{}, transport.Options{})
	key, err := b.e.License().Mint(security.KeySpec{Channel: "lf/#/", Permissions: security.ParsePermissions("rwsl")})
	require.NoError(f, err)
	name := regexp.MustCompile(`^[a-zA-Z0-9]{1,2}$`)
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.ReplaceAll(body, []byte("KEY"), []byte(key))
		c := dialRaw(t, b.addr)
		c.connect("fuzz-link", 0)
		c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("emitter/link/"), Payload: body})
		p := c.expect(mqtt.Publish)
		require.Equal(t, "emitter/link/", string(p.Topic))
		var resp struct {
			Status        int
			Message       string
			Name, Channel string
		}
		require.NoError(t, json.Unmarshal(p.Payload, &resp), "response %q", p.Payload)
		var req struct{ Name, Channel string }
		if json.Unmarshal(body, &req) != nil {
			require.Equal(t, 400, resp.Status, "body %q is not a link request", body)
			c.send(mqtt.Packet{Type: mqtt.Pingreq})
			c.expect(mqtt.Pingresp)
			return
		}
		if resp.Status != 200 {
			require.NotEmpty(t, resp.Message)
			c.send(mqtt.Packet{Type: mqtt.Pingreq})
			c.expect(mqtt.Pingresp)
			return
		}
		require.Regexp(t, name, req.Name)
		ch, err := security.ParseChannel(req.Channel)
		require.NoError(t, err, "a link to %q", req.Channel)
		require.True(t, ch.Static())
		require.Equal(t, req.Name, resp.Name)
		require.Equal(t, req.Channel, resp.Channel)
		c.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("emitter/me/")})
		for {
			p = c.expect(mqtt.Publish) // a subscribe:true link may replay retained messages first
			if string(p.Topic) == "emitter/me/" {
				break
			}
		}
		var me struct{ Links map[string]string }
		require.NoError(t, json.Unmarshal(p.Payload, &me))
		require.Equal(t, req.Channel, me.Links[req.Name])
	})
}
