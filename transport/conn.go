package transport

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport/mqtt"
	"github.com/heraldmq/herald/transport/websocket"
)

// conn is one network connection speaking MQTT.
type conn struct {
	srv  *Server
	nc   net.Conn
	r    mqtt.Reader
	pkt  mqtt.Packet
	sess *session
	info ClientInfo

	keepAlive  time.Duration
	pkts       uint      // packets read, for refreshDeadline
	deadlineAt time.Time // when the read deadline was last pushed back
	closed     atomic.Bool

	will       *will
	graceful   bool // DISCONNECT received: no will
	ctrlBuf    []byte
	codes      []byte
	acks       []uint16 // packet ids acknowledged in one run (readLoop)
	pubTopic   string   // last PUBLISH topic, for reuse of its string
	pubChannel string
	pubPlain   bool
	pubValid   bool             // pubTopic is a valid MQTT topic name (plain topics)
	pubParsed  security.Channel // pubTopic parsed, when it is an Emitter topic
	pubErr     error            // why pubTopic does not parse

	tc      *tcpConn                  // TCP sockets (raw or under a WebSocket): for non-blocking inline writes
	wsWrite func([]byte) (int, error) // WebSocket over TCP: tc.tryWrite, bound once
	ws      *websocket.Conn           // WebSocket connections: batches are framed in place
	pub     publisher                 // inline writes to subscribers during a publish

	// Writer state, owned by whoever holds wmu.
	tail   []byte    // bytes an inline write could not write, to go first (for a WebSocket: a whole unframed batch with headroom)
	wsKept bool      // the WebSocket holds the unsent end of a frame (ws.Flush sends it)
	wdl    time.Time // write deadline in force
	wmu    sync.Mutex
	batch  []inflight
	spare  []byte
}

type will struct {
	topic   string
	payload []byte
	qos     mqtt.QoS
	retain  bool
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// serveMQTT runs the connection until it ends.
func (s *Server) serveMQTT(nc net.Conn, preload []byte) {
	c := &conn{srv: s, nc: nc}
	c.ws, _ = nc.(*websocket.Conn)
	c.info.RemoteAddr = nc.RemoteAddr()
	if tc, ok := nc.(*tcpConn); ok && inlineWrites {
		c.tc = tc
	} else if c.ws != nil && inlineWrites {
		// A WebSocket over plain TCP (not TLS) is written inline too:
		// the batch is framed in place and the frame goes out with one
		// non-blocking write on the socket under it.
		under := c.ws.Conn
		if pc, ok := under.(*prefixConn); ok {
			under = pc.Conn
		}
		if tc, ok := under.(*tcpConn); ok {
			c.tc = tc
			c.wsWrite = tc.tryWrite
		}
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		s.nconns.Add(-1)
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.r.Reset(nc, s.opts.MaxPacketSize)
	c.r.Preload(preload)
	_ = nc.SetReadDeadline(time.Now().Add(s.opts.ConnectTimeout))
	p := &c.pkt // in the heap: an idle goroutine's stack stays small
	if err := c.r.ReadPacket(p); err != nil {
		var me *mqtt.Error
		if errors.As(err, &me) && me.Code != 0 && me.Type == mqtt.Connect {
			c.writeNow(mqtt.AppendConnack(nil, false, me.Code))
		}
		c.logEnd(err)
		c.cleanup()
		return
	}
	if p.Type != mqtt.Connect || !c.connect(p) {
		c.cleanup()
		return
	}
	c.moveOn()
}

// moveOn continues the read loop on a new goroutine. Handling CONNECT,
// SUBSCRIBE or UNSUBSCRIBE goes deep into the engine and grows the
// goroutine's stack to 8 KiB, which the runtime shrinks back only to 4 KiB
// while the goroutine waits in Read; a fresh goroutine waits with 2 KiB. So
// the loop moves after those packets when nothing more is buffered: an idle
// connection costs half as much, for the price of a goroutine start per
// (rare) subscription change.
func (c *conn) moveOn() {
	c.srv.wg.Add(1)
	go c.serve()
}

// serve runs the read loop until the connection ends or the loop moves on.
func (c *conn) serve() {
	defer c.srv.wg.Done()
	err := c.readLoop(&c.pkt)
	if err == errMoved {
		return
	}
	c.logEnd(err)
	c.end()
	c.cleanup()
}

// errMoved is returned by readLoop when it continues on a new goroutine.
var errMoved = errors.New("transport: read loop moved")

// cleanup releases the connection once its read loop is over.
func (c *conn) cleanup() {
	s := c.srv
	c.nc.Close()
	c.closed.Store(true)
	c.r.Release()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.nconns.Add(-1)
}

// logEnd logs why the connection ended, unless it ended as connections do:
// the client closed it, or the server is shutting down.
func (c *conn) logEnd(err error) {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.srv.closing.Load() {
		return
	}
	c.srv.log.Debug("transport: connection closed", "client", c.info.ClientID, "remote", c.info.RemoteAddr, "err", err)
}

// writeNow writes b directly (before the session is attached).
func (c *conn) writeNow(b []byte) bool {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	_, err := c.nc.Write(b)
	return err == nil
}

// connect handles the CONNECT packet: authentication, session takeover or
// creation, CONNACK and redelivery. It reports whether the connection goes on.
func (c *conn) connect(p *mqtt.Packet) bool {
	s := c.srv
	id := p.ClientID
	if id == "" {
		// Zero-length id with a clean session: a unique one. The codec has
		// already refused it otherwise (CONNACK 0x02).
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = "\x00auto-" + idEncoding.EncodeToString(b[:])
	}
	c.info.ClientID = p.ClientID
	c.info.Username = p.Username
	if a := s.opts.Authorizer; a != nil {
		var pw []byte
		if p.HasPassword {
			pw = p.Password
		}
		if !a.Connect(c.info, pw) {
			c.writeNow(mqtt.AppendConnack(nil, false, mqtt.NotAuthorized))
			return false
		}
	}
	if p.Will {
		w := &will{topic: p.WillTopic, payload: append([]byte(nil), p.WillPayload...), qos: p.WillQoS, retain: p.WillRetain}
		if !c.checkWill(w) {
			c.writeNow(mqtt.AppendConnack(nil, false, mqtt.NotAuthorized))
			return false
		}
		c.will = w
	}
	c.keepAlive = time.Duration(p.KeepAlive) * time.Second

	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return false
	}
	var prev *conn       // the connection the session had
	var discard *session // an old session to destroy now
	present := false
	sess := s.sessions[id]
	if sess != nil {
		var kept, destroy bool
		prev, kept, destroy = sess.takeOver(!p.CleanSession)
		if kept {
			present = true
		} else {
			delete(s.sessions, id)
			if destroy {
				discard = sess
			}
			sess = nil
		}
	}
	if sess == nil {
		var err error
		if sess, err = newSession(s, id, p.CleanSession); err != nil {
			s.mu.Unlock()
			c.writeNow(mqtt.AppendConnack(nil, false, mqtt.ServerUnavailable))
			return false
		}
		s.sessions[id] = sess
	}
	s.mu.Unlock()
	if prev != nil {
		// Session takeover: the old connection is closed; its will is
		// published (it did not DISCONNECT).
		prev.shutdown()
	}
	if discard != nil {
		discard.destroy()
	}
	c.sess = sess
	buf := mqtt.AppendConnack(nil, present, mqtt.Accepted)
	buf = sess.attach(c, buf)
	ok := c.writeNow(buf)
	sess.out.attached(c)
	if !ok {
		c.end()
	}
	return ok
}

// checkWill authorises a will topic as a publish.
func (c *conn) checkWill(w *will) bool {
	if c.isPlain(w.topic) {
		if !mqtt.ValidTopicName(w.topic) {
			return false
		}
		a := c.srv.opts.Authorizer
		return a == nil || a.Publish(c.info, w.topic)
	}
	return true // Emitter wills are authorised by their key when published
}

// refreshDeadline pushes the read deadline back after a packet: 1.5 times
// the keepalive (MQTT-3.1.2-24), updated at most every half second. In a
// burst (bytes already buffered) the clock is read every 64th packet only.
func (c *conn) refreshDeadline() {
	if c.r.Buffered() > 0 {
		if c.pkts++; c.pkts&63 != 0 {
			return
		}
	}
	now := time.Now()
	if c.keepAlive == 0 {
		if !c.deadlineAt.IsZero() || now.IsZero() {
			return
		}
		c.deadlineAt = now
		_ = c.nc.SetReadDeadline(time.Time{})
		return
	}
	if now.Sub(c.deadlineAt) < 500*time.Millisecond {
		return
	}
	c.deadlineAt = now
	_ = c.nc.SetReadDeadline(now.Add(c.keepAlive*3/2 + 500*time.Millisecond))
}

// readLoop reads and handles the client's packets, into p, until the
// connection ends (the error says why; nil for DISCONNECT or a refused
// packet) or the loop moves on (errMoved).
func (c *conn) readLoop(p *mqtt.Packet) error {
	ctx := context.Background()
	for {
		c.refreshDeadline()
		if err := c.r.ReadPacket(p); err != nil {
			return err
		}
		switch p.Type {
		case mqtt.Publish:
			if err := c.publish(ctx, p); err != nil {
				return err
			}
		case mqtt.Puback, mqtt.Pubcomp:
			// With the acknowledgements right behind it, under one lock.
			c.acks = c.r.ReadAcks(p.Type, append(c.acks[:0], p.ID), maxAckRun)
			c.sess.out.ack(p.Type, c.acks)
		case mqtt.Pubrec:
			c.acks = append(c.acks[:0], p.ID)
			c.sess.out.ack(p.Type, c.acks)
			if !c.send(mqtt.AppendAck(c.ctrlBuf[:0], mqtt.Pubrel, p.ID)) {
				return nil
			}
		case mqtt.Pubrel:
			if err := c.release(ctx, p.ID); err != nil {
				return err
			}
		case mqtt.Subscribe:
			if !c.subscribe(ctx, p) {
				return nil
			}
			if c.r.Buffered() == 0 {
				c.moveOn()
				return errMoved
			}
		case mqtt.Unsubscribe:
			if !c.unsubscribe(ctx, p) {
				return nil
			}
			if c.r.Buffered() == 0 {
				c.moveOn()
				return errMoved
			}
		case mqtt.Pingreq:
			if !c.send(mqtt.AppendPingresp(c.ctrlBuf[:0])) {
				return nil
			}
		case mqtt.Disconnect:
			c.graceful = true
			return nil
		default: // CONNECT again, or a server-to-client packet
			return errProtocol
		}
	}
}

var errProtocol = errors.New("transport: protocol violation")

// maxAckRun bounds the acknowledgements handled under one outbox lock.
const maxAckRun = 256

// send queues control packets for this connection.
func (c *conn) send(b []byte) bool {
	c.ctrlBuf = b[:0]
	return c.sess.out.sendCtrl(c, b)
}

// end runs when the read loop is over: the will (unless the client sent
// DISCONNECT or the server is shutting down), then the session.
func (c *conn) end() {
	c.nc.Close()
	if c.will != nil && !c.graceful && !c.srv.closing.Load() {
		c.publishWill()
	}
	c.sess.detach(c)
}

// shutdown closes the connection; its read loop then ends it.
func (c *conn) shutdown() {
	c.nc.Close()
}

// canWriteInline reports whether a publisher's goroutine may write to the
// connection itself, with one non-blocking system call (see flushInline).
func (c *conn) canWriteInline() bool { return c.tc != nil }

// subscribe handles a SUBSCRIBE and sends its SUBACK (after the retained
// and stored messages the subscriptions replay, as Emitter does).
func (c *conn) subscribe(ctx context.Context, p *mqtt.Packet) bool {
	codes := c.codes[:0]
	var pre []byte
	for _, sub := range p.Subscriptions {
		code, errPkt := c.subscribeOne(ctx, sub.Filter, sub.QoS, p.ID)
		codes = append(codes, code)
		pre = append(pre, errPkt...)
	}
	c.codes = codes
	return c.send(mqtt.AppendSuback(append(c.ctrlBuf[:0], pre...), p.ID, codes))
}

// subscribeOne subscribes the session to one filter and returns its SUBACK
// code, and for a refused Emitter filter the error to publish before the
// SUBACK.
func (c *conn) subscribeOne(ctx context.Context, filter string, qos mqtt.QoS, id uint16) (byte, []byte) {
	inline := engine.Inline()
	if c.isPlain(filter) {
		if !mqtt.ValidTopicFilter(filter) {
			return mqtt.SubackFailure, nil
		}
		if a := c.srv.opts.Authorizer; a != nil && !a.Subscribe(c.info, filter) {
			return mqtt.SubackFailure, nil
		}
		if err := c.sess.subscribe(ctx, filter, filter+"/", "", true, qos, engine.PlainTopic(), inline); err != nil {
			c.srv.log.Debug("transport: subscribe", "client", c.info.ClientID, "filter", filter, "err", err)
			return mqtt.SubackFailure, nil
		}
		return byte(qos), nil
	}
	t, err := security.ParseTopic(emitterWildcards(filter))
	if err == nil && t.Key == "emitter" {
		err = security.NewKeyError(security.ErrInvalidKey)
	}
	if err == nil {
		channel := t.Path
		if i := strings.IndexByte(filter, '?'); i >= 0 {
			channel += filter[i:]
		}
		// One subscription per key and channel; options are not part of it.
		err = c.sess.subscribe(ctx, t.Key+"/"+t.Path, channel, t.Key, false, qos, engine.WithKey(t.Key), inline)
	}
	if err != nil {
		return mqtt.SubackFailure, appendStatus(nil, errorTopic, id, engine.StatusOf(err), nil)
	}
	return byte(qos), nil
}

// unsubscribe handles an UNSUBSCRIBE and sends its UNSUBACK, after the
// errors of Emitter filters that could not be unsubscribed.
func (c *conn) unsubscribe(ctx context.Context, p *mqtt.Packet) bool {
	var pre []byte
	for _, f := range p.Filters {
		if c.isPlain(f) {
			c.sess.unsubscribe(f)
			continue
		}
		t, err := security.ParseTopic(emitterWildcards(f))
		if err == nil {
			err = c.sess.ec.Unsubscribe(t.Path, engine.WithKey(t.Key))
		}
		if err != nil {
			pre = appendStatus(pre, errorTopic, p.ID, engine.StatusOf(err), nil)
			continue
		}
		c.sess.unsubscribe(t.Key + "/" + t.Path)
	}
	return c.send(mqtt.AppendAck(append(c.ctrlBuf[:0], pre...), mqtt.Unsuback, p.ID))
}
