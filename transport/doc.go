// Package transport serves a Herald engine to network clients: a conformant
// MQTT 3.1.1 broker over TCP, WebSocket and TLS that also speaks Emitter's
// wire protocol (KEY/channel/ topics, emitter/ requests, emitter/error/).
// It uses only the engine's public API.
//
// # Basics
//
//	e, _ := engine.New(engine.Options{Store: st})
//	srv, _ := transport.New(e, transport.Options{})
//	go srv.ListenAndServe("127.0.0.1:8080")            // MQTT and MQTT over WebSocket
//	go srv.ListenAndServeTLS(":8443", "cert.pem", "key.pem")
//	...
//	srv.Shutdown(ctx)
//
// One port serves raw MQTT and MQTT over WebSocket: a connection whose first
// byte is 0x10 (CONNECT) is MQTT, one that starts with a letter is HTTP; an
// HTTP request with an Upgrade header on any path becomes a WebSocket
// (subprotocols mqtt, mqttv3.1 and mqttv3 accepted and echoed, binary
// frames), GET /health answers 200, anything else 404.
//
// # Topics
//
// Emitter topics, KEY/channel/?options, are authorised by the channel key
// (the engine checks it) and delivered to subscribers on the bare channel
// ("a/b/c/"). Errors are published to the client on emitter/error/ as
// {"req":<packet id>,"status":...,"message":...} with Emitter's exact
// messages; a refused subscription also gets SUBACK 0x80. A PUBLISH to
// emitter/keygen/, emitter/keyban/, emitter/me/, emitter/link/ or
// emitter/history/ is answered on the same topic, as Emitter answers it, and
// a PUBLISH to one of the connection's link names goes through the link;
// emitter/presence/ answers 404 for now.
// A "#" in a subscription becomes "#/" as in Emitter.
//
// Plain MQTT topics (no key) are off by default. With Options.PlainTopics a
// topic whose first level is "emitter" or a 32-character key is Emitter's and
// any other topic is plain: MQTT semantics, authorised by Options.Authorizer,
// mapped to the engine channel topic+"/". Create the engine with
// topic.MQTT for MQTT's matching rules.
//
// # MQTT semantics
//
// QoS 0, 1 and 2 in both directions: a message is delivered at the lower of
// its publisher's and the subscription's QoS, at most MaxInflight QoS 1/2
// messages per client are unacknowledged, and unacknowledged ones are sent
// again (DUP) when a persistent session reconnects. An incoming QoS 2
// message is published when its PUBREL arrives. Clean sessions end with their
// connection; persistent sessions (CleanSession 0) keep their subscriptions
// and queued QoS 1/2 messages for Options.SessionExpiry. A second connection
// with the same client id takes the session over and closes the first.
// Retained messages go through the engine's store (Options.Store of the
// engine); they are sent with RETAIN set on subscription, and live messages
// without it. The will is published when a connection ends without
// DISCONNECT (also on takeover and keepalive timeout), not on a clean
// disconnect and not on server shutdown. Keepalive is enforced at 1.5 times
// the client's value. Messages published in-process (not by a network
// client) are delivered at the subscription's QoS.
//
// # Resources and slow clients
//
// Each connection has one reading goroutine, and a writing goroutine only
// while something is queued for it: the writer takes everything queued (up to
// about 1 MiB) and writes it in one system call, repeating until the queue is
// empty, so a busy connection gets large writes and a quiet one an immediate
// small write, with no timer. When a network client's publish ends its burst
// (nothing more buffered from it), the idle subscribers it reaches over plain
// TCP (raw MQTT, or WebSocket with the frame built around the batch) and then
// its PUBACK are written by its own goroutine, one non-blocking system call
// each; TLS connections, and whatever a socket does not take at once,
// are left to a writer goroutine: no goroutine start per message at low
// rates. On Linux, accepted TCP connections (and the TCP under TLS when the
// server sets TLS up) are read and written with raw system calls, which
// spare the runtime's monitor thread a wake-up after every idle spell.
//
// A client's queue holds at most Options.QueueSize messages. When it is
// full, a message for it makes the publisher wait for room, at most
// Options.SlowTimeout per slow episode, and is dropped after that (drops are
// counted in Stats().Dropped): a stalled client costs a publisher at most
// SlowTimeout per episode and other clients nothing beyond that, as the
// engine's Block policy does. A client that does not read its socket for
// about Options.WriteTimeout, or lets more than Options.MaxPending bytes of
// control packets pile up, is disconnected. A packet above Options.MaxPacketSize
// closes that connection only. Connections beyond Options.MaxConnections are
// closed on accept. Dead peers are found by the keepalive and by TCP
// keepalive probes.
//
// An idle connection holds a 128-byte read buffer (a pooled 16 KiB one only
// while bytes flow, 64 KiB while they stream in), its session and one
// goroutine with a 2 KiB stack (the read loop moves to a fresh goroutine
// after packets that grow its stack): a few KiB in all (TestIdleConnMemory
// keeps it under 8 KiB).
//
// # Concurrency
//
// All methods of Server are safe for concurrent use. Shutdown and Close are
// idempotent and wait for every goroutine the server started.
package transport
