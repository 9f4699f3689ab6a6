package transport

import (
	"encoding/json"
	"time"

	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/transport/mqtt"
)

// errorTopic is where Emitter reports errors of publish, subscribe and
// unsubscribe.
const errorTopic = "emitter/error/"

// response is the JSON body of Emitter's responses and errors. Req is the
// packet id of the request, omitted when 0 (a QoS 0 request).
type response struct {
	Req     uint16 `json:"req,omitempty"`
	Status  int    `json:"status"`
	Message string `json:"message,omitempty"`
	Key     string `json:"key,omitempty"`
	Channel string `json:"channel,omitempty"`
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

// request answers a PUBLISH to emitter/<op>/: the response goes to this
// connection only, on the request's topic, before the PUBACK. keygen is
// served; the other services answer 404 for now, on the request's topic
// rather than emitter/error/, because Emitter's Go SDK waits for a response
// there and would otherwise wait forever.
func (c *conn) request(topic string, t security.Channel, payload []byte, id uint16) []byte {
	if t.Segments != 1 || t.Path != "keygen/" {
		return appendStatus(nil, topic, id, security.ErrStatusNotFound, nil)
	}
	var req keygenRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return appendStatus(nil, topic, id, security.ErrStatusBadRequest, nil)
	}
	if req.TTL < 0 || req.TTL > 1<<40 {
		return appendStatus(nil, topic, id, security.ErrStatusBadRequest, nil)
	}
	spec := security.KeySpec{
		Channel:     req.Channel,
		Permissions: security.ParsePermissions(req.Type),
		TTL:         time.Duration(req.TTL) * time.Second,
	}
	key, channel, err := c.sess.ec.Keygen(req.Key, spec)
	if err != nil {
		return appendStatus(nil, topic, id, statusOf(err), nil)
	}
	return appendStatus(nil, topic, id, &security.StatusError{Status: 200}, &response{Key: key, Channel: channel})
}
