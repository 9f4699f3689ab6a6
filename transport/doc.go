// Package transport serves a Herald engine to network clients over MQTT 3.1.1
// (TCP, WebSocket and TLS), speaking Emitter's wire protocol.
package transport
