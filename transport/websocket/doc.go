// Package websocket is a minimal server side of RFC 6455 for carrying a byte
// stream protocol such as MQTT: [Upgrade] answers the opening handshake
// (choosing a subprotocol) and returns a [Conn], a net.Conn whose Read yields
// the payload bytes of the client's data frames and whose Write sends one
// binary frame.
//
// # Why not a library
//
// General WebSocket libraries read through a message API with a buffered
// reader and writer per connection (4 KiB each or more). Conn adds no buffer:
// it reads straight into the caller's slice and strips frame headers and the
// mask in place, so an idle connection costs a few dozen bytes here, and a
// write is the caller's batch behind a 2-10 byte header in one writev.
//
// # Scope
//
// Server side only, no extensions (permessage-deflate is not negotiated),
// text and binary frames both read as bytes, fragmented messages joined, pings
// answered, close frames echoed. Frames that break the RFC get a close frame
// with status 1002 and [ErrProtocol] from Read.
package websocket
