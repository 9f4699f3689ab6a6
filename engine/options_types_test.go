package engine_test

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"
)

// TestMisappliedOptionsDoNotCompile type-checks calls that pass an option to
// a call it means nothing to, and requires each to be a compile error, while
// the same options in their place compile.
func TestMisappliedOptionsDoNotCompile(t *testing.T) {
	good := []string{
		`c.Publish(ctx, "a/", nil, engine.WithKey("k"), engine.PlainTopic(), engine.WithTTL(time.Second), engine.WithoutEcho(), engine.WithRetain(), engine.NoCopy(), engine.WithQoS(1))`,
		`c.Subscribe(ctx, "a/", nil, engine.WithKey("k"), engine.PlainTopic(), engine.WithLast(1), engine.WithFrom(time.Time{}), engine.WithUntil(time.Time{}), engine.WithQueue(1, engine.Block), engine.Inline())`,
		`c.Unsubscribe("a/", engine.WithKey("k"), engine.PlainTopic())`,
	}
	bad := []string{
		`c.Publish(ctx, "a/", nil, engine.WithLast(10))`,
		`c.Publish(ctx, "a/", nil, engine.Inline())`,
		`c.Publish(ctx, "a/", nil, engine.WithQueue(1, engine.Block))`,
		`c.Subscribe(ctx, "a/", nil, engine.WithTTL(time.Second))`,
		`c.Subscribe(ctx, "a/", nil, engine.NoCopy())`,
		`c.Subscribe(ctx, "a/", nil, engine.WithRetain())`,
		`c.Unsubscribe("a/", engine.WithLast(1))`,
		`c.Unsubscribe("a/", engine.WithoutEcho())`,
	}
	imp := importer.ForCompiler(token.NewFileSet(), "source", nil)
	check := func(call string) error {
		src := `package p
import ("context"; "time"; "github.com/heraldmq/herald/engine")
var _ = time.Second
func f(ctx context.Context, c *engine.Conn) { _ = ` + call + ` }
`
		if strings.HasPrefix(call, "c.Subscribe") {
			src = strings.Replace(src, "_ = "+call, "_, _ = "+call, 1)
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, "p.go", src, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", call, err)
		}
		conf := types.Config{Importer: imp}
		_, err = conf.Check("p", fset, []*ast.File{file}, nil)
		return err
	}
	for _, call := range good {
		if err := check(call); err != nil {
			t.Errorf("%s does not compile: %v", call, err)
		}
	}
	for _, call := range bad {
		if err := check(call); err == nil {
			t.Errorf("%s compiles; the option means nothing to that call", call)
		}
	}
}
