//go:build race

package trie_test

const raceEnabled = true
