// Package store keeps Herald's message history: messages published with a TTL,
// retained messages, and queries by channel with last / from / until.
package store
