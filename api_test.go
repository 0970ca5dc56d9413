package licensekit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exportedAPI parses the non-test Go files of dir and returns its exported
// names (functions, types, constants, variables; methods as Type.Method) and
// the names of its exported functions' and methods' parameters.
func exportedAPI(t *testing.T, dir string) (names map[string]bool, params map[string][]string) {
	t.Helper()
	names, params = map[string]bool{}, map[string][]string{}
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					typ := d.Recv.List[0].Type
					if s, ok := typ.(*ast.StarExpr); ok {
						typ = s.X
					}
					if id, ok := typ.(*ast.Ident); ok {
						name = id.Name + "." + name
					}
				}
				names[name] = true
				for _, p := range d.Type.Params.List {
					for _, n := range p.Names {
						params[name] = append(params[name], n.Name)
					}
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names[s.Name.Name] = true
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	return names, params
}

// TestGoAPIHasOneShape pins the rules of the Go API (see the license package
// documentation): no ...WithKey or ...AndAllocate variants, no idempotency key
// as a parameter (it is a request field), one consumer type (license.Consumer),
// and no exported internals.
func TestGoAPIHasOneShape(t *testing.T) {
	gone := map[string][]string{
		"pool": {"Service.CreateWithKey", "Service.ReassignWithKey", "Service.AddCommentWithKey",
			"Service.ValidateAndAllocate", "Service.ValidateRequest", "Service.ValidateRequestAndAllocate",
			"Consumer", "ValidationRequest", "RequestOf", "AllocateIn", "PoolIn", "CheckEntitlements",
			"MaxEntitlementLength", "MaxEntitlements"},
		"billing": {"Service.EnrollWithKey", "Service.UnenrollWithKey", "LoadSite", "LoadSiteForUpdate",
			"SaveSite", "ListSites", "EffectiveRole"},
		"billing/subscription": {"Consumer", "MaxEntitlementLength", "MaxEntitlements"},
		"topup":                {"Policy"},
		"license":              {"FakeClock", "NewFakeClock"},
		"eventlog": {"HashEvent", "SortKey", "ChainTimeLayout", "TimeKeyLayout",
			"Fold", "FoldRune", "ContainsFold", "SearchText", "SearchSeparator"},
		"storage/memory": {"SortKey"},
	}
	dirs := []string{"access", "apikey", "billing", "billing/subscription", "billing/volume", "eventlog",
		"license", "pool", "topup", "storage", "storage/memory", "storage/sqlite", "storage/postgres"}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			continue // a package this tree does not have
		}
		names, params := exportedAPI(t, dir)
		for _, n := range gone[dir] {
			if names[n] {
				t.Errorf("%s exports %s again", dir, n)
			}
		}
		for fn, ps := range params {
			if strings.HasSuffix(fn, "WithKey") || strings.HasSuffix(fn, "AndAllocate") {
				t.Errorf("%s.%s: a variant of another call; put the option in its request struct", dir, fn)
			}
			for _, p := range ps {
				if strings.Contains(strings.ToLower(p), "idempotency") {
					t.Errorf("%s.%s takes the idempotency key as parameter %q; it belongs in the request struct", dir, fn, p)
				}
			}
		}
	}
}
