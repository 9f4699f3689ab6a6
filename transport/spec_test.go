//go:build !race

package transport_test

import (
	"testing"
	"time"

	"github.com/256dpi/gomqtt/spec"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/transport"
)

// userAuth admits every client but the user "deny".
type userAuth struct{}

func (userAuth) Connect(c transport.ClientInfo, _ []byte) bool { return c.Username != "deny" }
func (userAuth) Publish(transport.ClientInfo, string) bool     { return true }
func (userAuth) Subscribe(transport.ClientInfo, string) bool   { return true }

// TestSpec runs the MQTT 3.1.1 broker test suite of
// github.com/256dpi/gomqtt/spec, every feature on, over TCP and WebSocket,
// with plain topics and MQTT matching.
func TestSpec(t *testing.T) {
	if testing.Short() {
		t.Skip("the spec suite takes about a minute")
	}
	for _, scheme := range []string{"tcp", "ws"} {
		t.Run(scheme, func(t *testing.T) {
			b := startBroker(t, engine.Options{Matching: topic.MQTT},
				transport.Options{PlainTopics: true, Authorizer: userAuth{}})
			config := spec.AllFeatures()
			config.URL = scheme + "://allow:allow@" + b.addr
			config.DenyURL = scheme + "://deny:deny@" + b.addr
			config.ProcessWait = 20 * time.Millisecond
			config.NoMessageWait = 50 * time.Millisecond
			config.MessageRetainWait = 20 * time.Millisecond
			spec.Run(t, config)
		})
	}
}
