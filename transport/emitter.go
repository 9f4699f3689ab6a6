package transport

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/transport/mqtt"
)

// errorTopic is where Emitter reports errors of publish, subscribe and
// unsubscribe.
const errorTopic = "emitter/error/"

// response is the JSON body of Emitter's responses and errors. Req is the
// packet id of the request, omitted when 0 (a QoS 0 request).
type response struct {
	Req     uint16            `json:"req,omitempty"`
	Status  int               `json:"status"`
	Message string            `json:"message,omitempty"`
	Name    string            `json:"name,omitempty"` // link: the link's name
	Key     string            `json:"key,omitempty"`
	Channel string            `json:"channel,omitempty"`
	ID      string            `json:"id,omitempty"`     // me: the connection's id
	Links   map[string]string `json:"links,omitempty"`  // me: the connection's links
	Banned  *bool             `json:"banned,omitempty"` // keyban: the target's state now
}

// appendStatus appends a QoS 0 PUBLISH of an Emitter status body to dst.
func appendStatus(dst []byte, topic string, req uint16, st *security.StatusError, r *response) []byte {
	if r == nil {
		r = &response{}
	}
	r.Req = req
	if st != nil {
		r.Status, r.Message = st.Status, st.Message
	}
	body, err := json.Marshal(r)
	if err != nil {
		return dst
	}
	dst, _ = mqtt.AppendPublish(dst, topic, body, mqtt.AtMostOnce, 0, false, false)
	return dst
}

// keygenRequest is the body of an emitter/keygen/ request.
type keygenRequest struct {
	Key     string `json:"key"`
	Channel string `json:"channel"`
	Type    string `json:"type"`
	TTL     int64  `json:"ttl"`
}

// keybanRequest is the body of an emitter/keyban/ request.
type keybanRequest struct {
	Secret string `json:"secret"`
	Target string `json:"target"`
	Banned bool   `json:"banned"`
}

// request answers a PUBLISH to emitter/<op>/: the response goes to this
// connection only, on the request's topic, before the PUBACK. keygen,
// keyban, me, link and history are served; presence answers 404 for now, on the
// request's topic rather than emitter/error/, because Emitter's Go SDK waits
// for a response there and would otherwise wait forever.
func (c *conn) request(topic string, t security.Channel, payload []byte, id uint16) []byte {
	if t.Segments != 1 {
		return appendStatus(nil, topic, id, security.ErrStatusNotFound, nil)
	}
	var r *response
	var err error
	switch t.Path {
	case "keygen/":
		r, err = c.keygen(payload)
	case "keyban/":
		r, err = c.keyban(payload)
	case "me/":
		r = &response{ID: c.sess.ec.ID(), Links: c.sess.ec.Links()} // the payload (empty or null) is ignored
	case "link/":
		r, err = c.link(payload)
	case "history/":
		return c.history(topic, payload, id)
	default:
		return appendStatus(nil, topic, id, security.ErrStatusNotFound, nil)
	}
	if err != nil {
		return appendStatus(nil, topic, id, engine.StatusOf(err), nil)
	}
	return appendStatus(nil, topic, id, &security.StatusError{Status: 200}, r)
}

// errBadRequest is what a malformed request body gets: Emitter's 400.
var errBadRequest error = security.ErrStatusBadRequest

// keygen serves emitter/keygen/.
func (c *conn) keygen(payload []byte) (*response, error) {
	var req keygenRequest
	if err := json.Unmarshal(payload, &req); err != nil || req.TTL < 0 || req.TTL > 1<<40 {
		return nil, errBadRequest
	}
	spec := security.KeySpec{
		Channel:     req.Channel,
		Permissions: security.ParsePermissions(req.Type),
		TTL:         time.Duration(req.TTL) * time.Second,
	}
	key, channel, err := c.sess.ec.Keygen(req.Key, spec)
	if err != nil {
		return nil, err
	}
	return &response{Key: key, Channel: channel}, nil
}

// historyRequest is the body of an emitter/history/ request. The channel
// carries the key ("KEY/a/b/?last=10"); Emitter ignores the key field.
type historyRequest struct {
	Channel     string   `json:"channel"`
	StartFromID store.ID `json:"startFromID"`
}

// historyMessage is one message of an emitter/history/ response; ID and
// Payload are standard base64, as Emitter sends them.
type historyMessage struct {
	ID      store.ID `json:"id"`
	Channel string   `json:"channel"`
	Payload []byte   `json:"payload"`
}

// historyResponse is Emitter's answer to emitter/history/: the messages, and
// no status field.
type historyResponse struct {
	Req      uint16           `json:"req,omitempty"`
	Messages []historyMessage `json:"messages"`
}

// history serves emitter/history/: the stored messages of a channel, oldest
// to newest, read with the channel's key (which needs l), from after
// startFromID when it is given.
func (c *conn) history(topic string, payload []byte, id uint16) []byte {
	var req historyRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return appendStatus(nil, topic, id, security.ErrStatusBadRequest, nil)
	}
	t, err := security.ParseTopic(req.Channel)
	if err != nil {
		return appendStatus(nil, topic, id, engine.StatusOf(err), nil)
	}
	opts := []engine.HistoryOption{engine.WithKey(t.Key)}
	if !req.StartFromID.IsZero() {
		opts = append(opts, engine.WithAfter(req.StartFromID))
	}
	msgs, err := c.sess.ec.History(context.Background(), req.Channel[len(t.Key)+1:], opts...)
	if err != nil {
		return appendStatus(nil, topic, id, engine.StatusOf(err), nil)
	}
	r := historyResponse{Req: id, Messages: make([]historyMessage, len(msgs))}
	for i, m := range msgs {
		r.Messages[i] = historyMessage{ID: m.ID, Channel: m.Channel, Payload: m.Payload}
	}
	body, err := json.Marshal(r)
	if err != nil {
		return appendStatus(nil, topic, id, security.ErrStatusInternal, nil)
	}
	out, _ := mqtt.AppendPublish(nil, topic, body, mqtt.AtMostOnce, 0, false, false)
	return out
}

// linkRequest is the body of an emitter/link/ request. A "private" field,
// which Emitter's JavaScript SDK sends, is ignored, as Emitter ignores it.
type linkRequest struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Channel   string `json:"channel"`
	Subscribe bool   `json:"subscribe"`
}

// link serves emitter/link/: the connection names a channel (with options)
// and a key, checked when the link is used; with subscribe, the client is
// also subscribed to the channel when the key allows it (r), as Emitter
// does. Publishing to the name then publishes through the link.
func (c *conn) link(payload []byte) (*response, error) {
	var req linkRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, errBadRequest
	}
	if err := c.sess.ec.Link(req.Name, req.Channel, req.Key); err != nil {
		return nil, err
	}
	if req.Subscribe {
		path, _, _ := strings.Cut(req.Channel, "?")
		// A key without r makes no subscription and no error, as in Emitter.
		_, _ = c.subscribeOne(context.Background(), req.Key+"/"+path, mqtt.AtMostOnce, 0)
	}
	return &response{Name: req.Name, Channel: req.Channel}, nil
}

// isLinkName reports whether topic may be one of the connection's link
// names: one or two characters without a '/'.
func isLinkName(topic string) bool { return len(topic) <= 2 && !strings.Contains(topic, "/") }

// publishLink publishes through the connection's link called c.pubTopic,
// and returns an error on emitter/error/ if the link's key refuses it. It
// reports false, having done nothing, when there is no such link.
func (c *conn) publishLink(ctx context.Context, in inbound) ([]byte, bool) {
	var buf [3]engine.PublishOption
	opts := append(buf[:0], engine.WithQoS(uint8(in.qos)))
	if in.retain {
		opts = append(opts, engine.WithRetain())
	}
	if in.owned {
		opts = append(opts, engine.NoCopy())
	}
	err := c.sess.ec.PublishLink(ctx, c.pubTopic, in.payload, opts...)
	switch {
	case errors.Is(err, engine.ErrNoLink):
		return nil, false
	case err != nil:
		return appendStatus(nil, errorTopic, in.id, engine.StatusOf(err), nil), true
	}
	return nil, true
}

// keyban serves emitter/keyban/: a master key bans or unbans a key of its
// contract on every connection. An unban takes effect at once (Emitter's
// took up to a minute to reach every node).
func (c *conn) keyban(payload []byte) (*response, error) {
	var req keybanRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, errBadRequest
	}
	e := c.srv.e
	var err error
	if req.Banned {
		err = e.Ban(context.Background(), req.Secret, req.Target)
	} else {
		err = e.Unban(context.Background(), req.Secret, req.Target)
	}
	if err != nil {
		return nil, err
	}
	return &response{Banned: &req.Banned}, nil
}

// isPlain reports whether topic is a plain MQTT topic rather than an
// Emitter one: with PlainTopics on, a topic is Emitter's when its first
// level is "emitter" or shaped like a channel key (32 base64url characters).
func (c *conn) isPlain(topic string) bool {
	if !c.srv.opts.PlainTopics {
		return false
	}
	first, _, _ := strings.Cut(topic, "/")
	return first != "emitter" && !isKeyShaped(first)
}

func isKeyShaped(s string) bool {
	if len(s) != security.EncodedKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// publishEmitter handles a PUBLISH to an Emitter topic or request, and
// returns the packets to send before the acknowledgement (a response or an
// error on emitter/error/).
func (c *conn) publishEmitter(ctx context.Context, in inbound) []byte {
	topic, t, err := c.pubTopic, c.pubParsed, c.pubErr
	if err != nil {
		return appendStatus(nil, errorTopic, in.id, engine.StatusOf(err), nil)
	}
	if t.Key == "emitter" {
		return c.request(topic, t, in.payload, in.id)
	}
	err = c.publishKeyed(ctx, topic[len(t.Key)+1:], t.Key, in)
	if err != nil {
		return appendStatus(nil, errorTopic, in.id, engine.StatusOf(err), nil)
	}
	return nil
}

// emitterWildcards rewrites "#" to "#/" and then "//" to "/", as Emitter
// does on SUBSCRIBE, so that "KEY/a/#" (what MQTT clients allow) means
// "KEY/a/#/". Unlike Emitter, UNSUBSCRIBE gets the same rewrite, so that the
// filter a client subscribed with also unsubscribes.
func emitterWildcards(s string) string {
	if !strings.Contains(s, "#") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "#", "#/"), "//", "/")
}

// requestAckDelay delays the PUBACK of a QoS 1 emitter/ request behind its
// response. Emitter's Go SDK registers the callback for a response only
// after its Publish call returns, and loses it for good if the PUBACK is
// processed first: a prompt broker would make GenerateKey hang forever.
const requestAckDelay = 50 * time.Millisecond

func (c *conn) delayedPuback(id uint16) {
	out := &c.sess.out
	time.AfterFunc(requestAckDelay, func() {
		out.sendCtrl(c, mqtt.AppendAck(nil, mqtt.Puback, id))
	})
}
