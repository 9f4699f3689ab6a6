package transport

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport/mqtt"
)

// inbound is a message a client publishes.
type inbound struct {
	payload []byte
	qos     mqtt.QoS
	retain  bool
	owned   bool   // payload is the transport's own copy (a QoS 2 message, a will): the engine takes it as it is
	id      uint16 // the packet id, which Emitter's responses refer to
}

// publishWill publishes the will as the client would have: its topic is
// authorised when it is plain, by its key when it is Emitter's.
func (c *conn) publishWill() {
	c.pub.begin(c)
	defer c.pub.end()
	w := c.will
	in := inbound{payload: w.payload, qos: w.qos, retain: w.retain, owned: true}
	ctx := context.Background()
	if c.isPlain(w.topic) {
		_ = c.publishPlain(ctx, w.topic+"/", in)
		return
	}
	t, err := security.ParseTopic(w.topic)
	if err != nil || t.Key == "emitter" {
		return
	}
	_ = c.publishKeyed(ctx, w.topic[len(t.Key)+1:], t.Key, in)
}

// publish handles a PUBLISH from the client. A QoS 2 message is kept until
// its PUBREL and published then (so that its PUBREC reaches the client before
// any copy of it). An error closes the connection.
func (c *conn) publish(ctx context.Context, p *mqtt.Packet) error {
	if p.QoS == mqtt.ExactlyOnce {
		if err := c.sess.holdQoS2(p.ID, p.Topic, p.Payload, p.Retain); err != nil {
			return err
		}
		if !c.send(mqtt.AppendAck(c.ctrlBuf[:0], mqtt.Pubrec, p.ID)) {
			return errProtocol
		}
		return nil
	}
	// Reuse the topic's string (and what setTopic derived from it) while
	// the client keeps publishing to it; "" is the state before the first
	// publish, which setTopic has not seen.
	if string(p.Topic) != c.pubTopic || c.pubTopic == "" {
		c.setTopic(string(p.Topic))
	}
	// The inline writes to subscribers go out before the acknowledgement.
	c.pub.begin(c)
	pre, err := c.route(ctx, inbound{payload: p.Payload, qos: p.QoS, retain: p.Retain, id: p.ID})
	c.pub.end()
	if err != nil {
		return err
	}
	ack := append(c.ctrlBuf[:0], pre...)
	if p.QoS == mqtt.AtLeastOnce {
		if !c.pubPlain && strings.HasPrefix(c.pubTopic, "emitter/") {
			c.delayedPuback(p.ID)
		} else {
			ack = mqtt.AppendAck(ack, mqtt.Puback, p.ID)
		}
	}
	ok := true
	if len(ack) > 0 {
		ok = c.sendOwn(ack)
	}
	if !ok {
		return errProtocol
	}
	return nil
}

// sendOwn is send for the read goroutine: when the client has nothing more
// buffered and the connection can be written inline, the packets are
// written at once by this goroutine (see flushInline) rather than by a
// writer goroutine.
func (c *conn) sendOwn(b []byte) bool {
	if c.tc == nil || c.r.Complete() {
		return c.send(b)
	}
	c.ctrlBuf = b[:0]
	ok, flush := c.sess.out.queueCtrl(c, b, true)
	if flush {
		c.flushInline(&c.sess.out)
	}
	return ok
}

// pendingPub is a QoS 2 message received and not yet released.
type pendingPub struct {
	topic   string
	payload []byte
	retain  bool
}

var errTooManyQoS2 = errors.New("transport: too many unreleased QoS 2 messages")

// release publishes a QoS 2 message on PUBREL and answers PUBCOMP (also for
// an unknown id: the message was released before).
func (c *conn) release(ctx context.Context, id uint16) error {
	pp := c.sess.releaseQoS2(id)
	var out []byte
	if pp != nil {
		if pp.topic != c.pubTopic || c.pubTopic == "" {
			c.setTopic(pp.topic)
		}
		c.pub.begin(c)
		pre, err := c.route(ctx, inbound{payload: pp.payload, qos: mqtt.ExactlyOnce, retain: pp.retain, owned: true, id: id})
		c.pub.end()
		if err != nil {
			return err
		}
		out = append(out, pre...)
	}
	if !c.send(mqtt.AppendAck(append(c.ctrlBuf[:0], out...), mqtt.Pubcomp, id)) {
		return errProtocol
	}
	return nil
}

// setTopic makes topic the current publish topic, with its engine channel.
func (c *conn) setTopic(topic string) {
	c.pubPlain = c.isPlain(topic)
	if c.pubPlain {
		c.pubChannel = topic + "/"
		c.pubTopic = c.pubChannel[:len(topic)]
		c.pubValid = mqtt.ValidTopicName(topic)
	} else {
		c.pubTopic, c.pubChannel = topic, ""
		c.pubParsed, c.pubErr = security.ParseTopic(topic)
	}
}

// route publishes a message to the current publish topic and returns the
// packets to send before the acknowledgement (an Emitter response or error).
func (c *conn) route(ctx context.Context, in inbound) ([]byte, error) {
	if isLinkName(c.pubTopic) {
		if out, ok := c.publishLink(ctx, in); ok {
			return out, nil
		}
	}
	if !c.pubPlain {
		return c.publishEmitter(ctx, in), nil
	}
	if !c.pubValid {
		return nil, errProtocol // MQTT-3.3.2-2: wildcards in a topic name
	}
	// A refused or '$' publish is dropped silently: MQTT 3.1.1 has no
	// negative acknowledgement.
	if c.pubTopic[0] == '$' {
		return nil, nil
	}
	if a := c.srv.opts.Authorizer; a != nil && !a.Publish(c.info, c.pubTopic) {
		return nil, nil
	}
	if err := c.publishPlain(ctx, c.pubChannel, in); err != nil {
		c.srv.log.Debug("transport: publish", "client", c.info.ClientID, "topic", c.pubTopic, "err", err)
	}
	return nil, nil
}

// publishPlain publishes to a plain MQTT topic's channel.
func (c *conn) publishPlain(ctx context.Context, channel string, in inbound) error {
	return c.publishAs(ctx, engine.PlainTopic(), channel, in)
}

// publishKeyed publishes to an Emitter channel with its key.
func (c *conn) publishKeyed(ctx context.Context, channel, key string, in inbound) error {
	return c.publishAs(ctx, engine.WithKey(key), channel, in)
}

// publishAs publishes through the session's engine Conn, kind saying whether
// the channel is plain or keyed.
func (c *conn) publishAs(ctx context.Context, kind engine.CallOption, channel string, in inbound) error {
	var optBuf [4]engine.PublishOption
	opts := append(optBuf[:0], kind, engine.WithQoS(uint8(in.qos)))
	if in.retain {
		opts = append(opts, engine.WithRetain())
	}
	if in.owned {
		opts = append(opts, engine.NoCopy())
	}
	return c.sess.ec.Publish(ctx, channel, in.payload, opts...)
}

// publisher is the inline side of a connection's publishes. A publish that
// ends its client's burst (nothing more is buffered from it) opens the
// publisher with begin. Until end, the handlers of the subscriptions it
// reaches find it through the message (session.publishing) and, for an idle
// subscriber that can be written inline, reserve the write on it instead of
// starting a writer goroutine. end makes the reserved writes on the
// connection's read goroutine, once every matching subscription has had its
// say on the QoS, and before the publisher's own acknowledgement, so that a
// delivery does not wait behind a PUBACK's system call (see mqttload's paced
// QoS 1 runs). In a burst the publisher stays closed and the subscribers'
// writer goroutines batch as usual.
//
// Handlers normally run on the publishing goroutine, but the engine also
// delivers live messages it held during a subscription's replay from the
// subscribing goroutine: state makes a reservation from there safe too.
type publisher struct {
	state   atomic.Int32   // pubClosed, pubOpen or pubBusy
	sess    *session       // whose publishing points here while open
	pending []pendingFlush // the reserved writes
}

// A publisher's states: reserve takes it from open to busy while it appends
// to pending, close from open to closed.
const (
	pubClosed int32 = iota
	pubOpen
	pubBusy
)

// pendingFlush is an inline write reserved on a publisher.
type pendingFlush struct {
	o *outbox
	c *conn // o's connection when the write was reserved
}

// begin opens p for a publish by c, if it ends the client's burst and no
// other connection of the session is publishing (a takeover).
func (p *publisher) begin(c *conn) {
	if c.r.Complete() {
		return
	}
	p.state.Store(pubOpen)
	if !c.sess.publishing.CompareAndSwap(nil, p) {
		p.state.Store(pubClosed)
		return
	}
	p.sess = c.sess
}

// reserve is called by a subscriber's outbox o, with its lock held, for an
// idle connection c that can be written inline: it reports whether p takes
// on the write (false when p is nil or not open). The caller then gives the
// writer role to p.
func (p *publisher) reserve(o *outbox, c *conn) bool {
	if p == nil || p.state.Load() != pubOpen || !p.state.CompareAndSwap(pubOpen, pubBusy) {
		return false
	}
	p.pending = append(p.pending, pendingFlush{o, c})
	p.state.Store(pubOpen)
	return true
}

// end closes p, if begin opened it, and makes the writes reserved on it.
func (p *publisher) end() {
	if !p.close() {
		return
	}
	for i, f := range p.pending {
		f.c.flushInline(f.o)
		p.pending[i] = pendingFlush{}
	}
	p.pending = p.pending[:0]
}

// close closes p, once a reservation in progress on another goroutine is
// done, and reports whether it was open.
func (p *publisher) close() bool {
	if p.sess == nil {
		return false
	}
	p.sess.publishing.Store(nil)
	p.sess = nil
	for !p.state.CompareAndSwap(pubOpen, pubClosed) {
		runtime.Gosched()
	}
	return true
}
