package archtest

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/heraldmq/herald"

// allowed reports whether the package at rel (a path relative to the module
// root) may import the Herald package dep (also relative).
func allowed(rel, dep string) bool {
	top := func(p string) string { t, _, _ := strings.Cut(p, "/"); return t }
	within := func(p, tree string) bool { return p == tree || strings.HasPrefix(p, tree+"/") }
	switch {
	case within(dep, "examples"):
		return false // nothing imports an example
	case within(rel, "transport/mqtt"), within(rel, "transport/websocket"):
		// The codecs stand alone: no Herald package, not even the leaves.
		return within(rel, "transport/mqtt") && within(dep, "transport/mqtt") ||
			within(rel, "transport/websocket") && within(dep, "transport/websocket")
	case within(dep, "transport"):
		return within(rel, "transport") || within(rel, "examples")
	}
	switch top(rel) {
	case "topic":
		// The channel vocabulary: the leaf of the leaves.
		return top(dep) == "topic"
	case "trie", "store", "security":
		// Leaves: their own subtree and the channel vocabulary.
		return top(dep) == top(rel) || top(dep) == "topic"
	case "internal":
		return within(dep, "internal")
	case "engine":
		return slices.Contains([]string{"topic", "trie", "store", "security", "internal", "engine"}, top(dep))
	case "transport", "examples":
		return true
	}
	return false
}

func TestImportDirection(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a separate module (bench, tools)
			}
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		checked++
		for _, imp := range slices.Concat(pkg.Imports, pkg.TestImports, pkg.XTestImports) {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok || dep == rel {
				continue
			}
			if !allowed(rel, dep) {
				t.Errorf("%s imports %s: not allowed (see the package layout in README.md)", rel, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages; is the module root right?", checked)
	}
}

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		rel, dep string
		ok       bool
	}{
		{"trie", "engine", false},
		{"store", "trie", false},
		{"store/storetest", "store", true},
		{"security", "internal/leaktest", false},
		{"engine", "trie", true},
		{"engine", "internal/leaktest", true},
		{"engine", "transport", false},
		{"internal/leaktest", "engine", false},
		{"transport", "engine", true},
		{"transport/mqtt", "transport", false},
		{"transport/mqtt", "engine", false},
		{"transport/mqtt", "topic", false},
		{"transport/websocket", "transport/mqtt", false},
		{"transport/websocket", "internal/leaktest", false},
		{"transport/mqtt", "transport/mqtt/internal/x", true},
		{"topic", "trie", false},
		{"topic", "internal/leaktest", false},
		{"trie", "topic", true},
		{"store", "topic", true},
		{"security", "topic", true},
		{"engine", "topic", true},
		{"engine", "internal/fsutil", true},
		{"store", "internal/fsutil", false},
		{"examples/broker", "transport", true},
		{"engine", "examples/chat", false},
		{"transport", "examples/broker", false},
	} {
		if got := allowed(tc.rel, tc.dep); got != tc.ok {
			t.Errorf("allowed(%q, %q) = %v, want %v", tc.rel, tc.dep, got, tc.ok)
		}
	}
}
