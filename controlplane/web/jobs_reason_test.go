package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestJobReasonsExplained checks that jobReasons lists every reason of
// protocol/reasons.go and that both catalogues explain each one.
func TestJobReasonsExplained(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../protocol/reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Reason") {
					continue
				}
				value, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
				if err != nil {
					t.Fatalf("%s: %v", name.Name, err)
				}
				declared = append(declared, value)
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("found no Reason constants in protocol/reasons.go")
	}
	for _, reason := range declared {
		if !slices.Contains(jobReasons, reason) {
			t.Errorf("jobReasons lacks %s", reason)
		}
	}
	for _, lang := range []string{"en", "ja"} {
		raw, err := fs.ReadFile(localeFS, "locales/jobs."+lang+".toml")
		if err != nil {
			t.Fatal(err)
		}
		msgs := map[string]any{}
		if err := toml.Unmarshal(raw, &msgs); err != nil {
			t.Fatal(err)
		}
		for _, reason := range jobReasons {
			if _, ok := msgs["jobs.reason."+reason]; !ok {
				t.Errorf("locales/jobs.%s.toml lacks jobs.reason.%s", lang, reason)
			}
		}
	}
}
