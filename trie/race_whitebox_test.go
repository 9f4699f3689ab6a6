//go:build race

package trie

const raceOn = true
