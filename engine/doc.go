// Package engine is Herald's embeddable pub/sub engine.
package engine
