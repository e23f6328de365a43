package lokicall_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// packages parses every non-test Go file of the module, by directory.
func packages(t *testing.T) map[string][]*ast.File {
	t.Helper()
	fset := token.NewFileSet()
	dirs := map[string][]*ast.File{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// isCommand reports directories holding a main package: they may print and
// exit; libraries may not.
func isCommand(files []*ast.File) bool { return len(files) > 0 && files[0].Name.Name == "main" }

// TestLibrariesNeitherPrintNorExit: library code returns errors and logs
// through an injected *slog.Logger; only commands print, exit or use cobra.
func TestLibrariesNeitherPrintNorExit(t *testing.T) {
	forbidden := map[string]map[string]bool{
		"fmt": {"Print": true, "Printf": true, "Println": true},
		"os":  {"Exit": true},
		"log": {"Print": true, "Printf": true, "Println": true, "Fatal": true, "Fatalf": true, "Fatalln": true, "Panic": true, "Panicf": true},
	}
	for dir, files := range packages(t) {
		if isCommand(files) {
			continue
		}
		for _, f := range files {
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/spf13/cobra") {
					t.Errorf("%s: library package imports cobra", dir)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fn := call.Fun.(type) {
				case *ast.Ident:
					if fn.Name == "panic" {
						t.Errorf("%s/%s: library code panics", dir, f.Name.Name)
					}
				case *ast.SelectorExpr:
					if pkg, ok := fn.X.(*ast.Ident); ok && forbidden[pkg.Name][fn.Sel.Name] {
						t.Errorf("%s: library code calls %s.%s", dir, pkg.Name, fn.Sel.Name)
					}
				}
				return true
			})
		}
	}
}

// TestDocComments: every package has a package comment and every exported
// top-level name a doc comment.
func TestDocComments(t *testing.T) {
	for dir, files := range packages(t) {
		hasPkgDoc := false
		for _, f := range files {
			if f.Doc != nil {
				hasPkgDoc = true
			}
			for _, decl := range f.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if d.Name.IsExported() && d.Doc == nil && (d.Recv == nil || exportedRecv(d.Recv)) {
						t.Errorf("%s: %s has no doc comment", dir, d.Name.Name)
					}
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						switch s := spec.(type) {
						case *ast.TypeSpec:
							if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
								t.Errorf("%s: type %s has no doc comment", dir, s.Name.Name)
							}
						case *ast.ValueSpec:
							for _, n := range s.Names {
								if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
									t.Errorf("%s: %s has no doc comment", dir, n.Name)
								}
							}
						}
					}
				}
			}
		}
		if !hasPkgDoc {
			t.Errorf("%s: no package doc comment", dir)
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	if fl == nil || len(fl.List) == 0 {
		return true
	}
	typ := fl.List[0].Type
	if s, ok := typ.(*ast.StarExpr); ok {
		typ = s.X
	}
	if g, ok := typ.(*ast.IndexExpr); ok {
		typ = g.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
