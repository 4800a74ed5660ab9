package infra

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
)

const modulePrefix = "github.com/shopworks/shop/"

type dockerfile struct {
	path   string
	build  instructions.Stage // the "build" stage
	final  instructions.Stage // the last stage: the image
	ignore *patternmatcher.PatternMatcher
}

// parseDockerfile parses and lints one Dockerfile with BuildKit's own front end (what
// `docker build --check` runs): a syntax error or any lint warning fails the test.
func parseDockerfile(t *testing.T, service string) dockerfile {
	t.Helper()
	p := filepath.Join(infraDir(t), "docker", service+".Dockerfile")
	dt := []byte(readFile(t, p))

	sm := llb.NewSourceMap(nil, filepath.Base(p), "Dockerfile", dt)
	sm.Definition = &llb.Definition{} // no build: only the source is linted
	res, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sm,
		MetaResolver: offlineImages{},
	})
	require.NoError(t, err)
	if res.Error != nil {
		t.Fatalf("%s: %s", p, res.Error.Message)
	}
	for _, w := range res.Warnings {
		line := int32(0)
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = w.Location.Ranges[0].Start.Line
		}
		t.Errorf("%s:%d: lint %s: %s", p, line, w.RuleName, w.Detail)
	}

	ast, err := parser.Parse(bytes.NewReader(dt))
	require.NoError(t, err)
	require.Empty(t, ast.Warnings)
	stages, _, err := instructions.Parse(ast.AST, nil)
	require.NoError(t, err)
	require.Len(t, stages, 2, "a build stage and the image")

	f, err := os.Open(p + ".dockerignore")
	require.NoError(t, err, "per-Dockerfile ignore file (BuildKit reads <Dockerfile>.dockerignore)")
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	require.NoError(t, err)
	pm, err := patternmatcher.New(patterns)
	require.NoError(t, err)

	return dockerfile{path: p, build: stages[0], final: stages[1], ignore: pm}
}

// offlineImages answers BuildKit's base-image lookups without a registry: every image is a
// linux/amd64 image with one layer and an empty config. Enough for the lint rules, which are
// about the Dockerfile itself.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	const cfg = `{"architecture":"amd64","os":"linux","config":{},` +
		`"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}`
	return ref, "", []byte(cfg), nil
}

func commands[T any](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// workspaceModules returns the module directories listed in go.work ("clients", ...).
func workspaceModules(t *testing.T) []string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "go.work")
	wf, err := modfile.ParseWork(p, []byte(readFile(t, p)), nil)
	require.NoError(t, err)
	var dirs []string
	for _, u := range wf.Use {
		dirs = append(dirs, path.Clean(u.Path))
	}
	return dirs
}

// neededModules returns the workspace modules a service is built from: itself and, transitively,
// every github.com/shopworks/shop/* module its go.mod requires.
func neededModules(t *testing.T, service string) []string {
	t.Helper()
	seen := map[string]bool{}
	var visit func(dir string)
	visit = func(dir string) {
		if seen[dir] {
			return
		}
		seen[dir] = true
		p := filepath.Join(repoRoot(t), dir, "go.mod")
		mf, err := modfile.ParseLax(p, []byte(readFile(t, p)), nil)
		require.NoError(t, err)
		for _, r := range mf.Require {
			if dep, ok := strings.CutPrefix(r.Mod.Path, modulePrefix); ok {
				visit(dep)
			}
		}
	}
	visit(service)
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs
}

func TestDockerfiles(t *testing.T) {
	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			df := parseDockerfile(t, s.Name)

			// Build stage: Go toolchain, static, reproducible build of the service's main package.
			assert.Equal(t, "build", df.build.Name)
			assert.Equal(t, "golang:${GO_VERSION}", df.build.BaseName)
			assert.Equal(t, "$BUILDPLATFORM", df.build.Platform, "cross-compile instead of emulating")
			runs := commands[*instructions.RunCommand](df.build)
			require.Len(t, runs, 1)
			run := strings.Join(runs[0].CmdLine, " ")
			for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "-ldflags='-s -w'",
				"-o /out/" + s.Name, "./" + s.Name + "/cmd/" + s.Name} {
				assert.Contains(t, run, want)
			}

			// Image: distroless, non-root, the binary as entrypoint.
			assert.Equal(t, "gcr.io/distroless/static-debian12:nonroot", df.final.BaseName)
			users := commands[*instructions.UserCommand](df.final)
			require.Len(t, users, 1)
			assert.Regexp(t, `^(nonroot|65532)(:(nonroot|65532))?$`, users[0].User)
			expose := commands[*instructions.ExposeCommand](df.final)
			require.Len(t, expose, 1)
			assert.Equal(t, []string{strconv.Itoa(s.Port)}, expose[0].Ports)
			eps := commands[*instructions.EntrypointCommand](df.final)
			require.Len(t, eps, 1)
			assert.False(t, eps[0].PrependShell, "exec form: there is no shell in the image")
			assert.Equal(t, []string{"/" + s.Name}, eps[0].CmdLine, "compose's healthcheck and k8s args rely on this path")
			copies := commands[*instructions.CopyCommand](df.final)
			require.Len(t, copies, 1)
			assert.Equal(t, "build", copies[0].From)
			assert.Equal(t, []string{"/out/" + s.Name}, copies[0].SourcePaths)
			assert.Empty(t, commands[*instructions.RunCommand](df.final))

			// Build context: every module of go.work resolves (go.mod copied), and the sources of
			// every module the service is built from are there.
			var sources []string
			for _, c := range commands[*instructions.CopyCommand](df.build) {
				require.Empty(t, c.From)
				sources = append(sources, c.SourcePaths...)
			}
			assert.Contains(t, sources, "go.work")
			assert.Contains(t, sources, "go.work.sum")
			for _, m := range workspaceModules(t) {
				assert.True(t, slices.ContainsFunc(sources, func(src string) bool {
					ok, _ := path.Match(src, m+"/go.mod")
					return ok
				}), "%s: go.work lists ./%s but the Dockerfile does not copy %s/go.mod: the build would fail", df.path, m, m)
			}
			for _, m := range neededModules(t, s.Name) {
				assert.Contains(t, sources, m+"/", "%s is built from module %s: copy its sources", s.Name, m)
			}

			// The ignore file keeps out what must not travel, and lets in what COPY needs.
			for _, p := range []string{".git/config", "bin/product-service", "e2e/e2e_test.go", "k6/main.go",
				"docs/adr/0001.md", s.Name + "/internal/x_test.go", "clients/testdata/x.json"} {
				ignored, err := df.ignore.MatchesOrParentMatches(p)
				require.NoError(t, err)
				assert.True(t, ignored, "%s should not be in the build context", p)
			}
		})
	}
}

// TestDockerBuildContextResolves re-creates the builder stage's /src from the Dockerfile's COPY
// instructions and the ignore file, then asks the go command to resolve the service's main package
// and all its dependencies there (offline when the module cache is warm). That is the part of
// `docker build` that can go wrong without Docker: a missing module, file or checksum.
func TestDockerBuildContextResolves(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	root := repoRoot(t)
	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			df := parseDockerfile(t, s.Name)
			src := t.TempDir()
			for _, c := range commands[*instructions.CopyCommand](df.build) {
				for _, pattern := range c.SourcePaths {
					matches, err := filepath.Glob(filepath.Join(root, pattern))
					require.NoError(t, err)
					require.NotEmpty(t, matches, "COPY %s matches nothing: the build would fail", pattern)
					n := 0
					for _, m := range matches {
						n += copyIntoContext(t, df.ignore, root, m, filepath.Join(src, c.DestPath), c.Parents)
					}
					require.NotZero(t, n, "COPY %s: everything is excluded by the ignore file", pattern)
				}
			}

			// The binary's main package; until it exists, every package of the service module.
			target := "./" + s.Name + "/cmd/" + s.Name
			if _, err := os.Stat(filepath.Join(root, s.Name, "cmd", s.Name)); err != nil {
				t.Logf("%s does not exist yet: resolving ./%s/... instead", target, s.Name)
				target = "./" + s.Name + "/..."
			}
			cmd := exec.Command(goBin, "list", "-deps", "-f", "{{if .Error}}{{.Error}}{{end}}", target)
			cmd.Dir = src
			cmd.Env = append(os.Environ(),
				"GOWORK="+filepath.Join(src, "go.work"), "GOTOOLCHAIN=local",
				"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=readonly")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "go list in the re-created build context:\n%s", out)
			require.Empty(t, strings.TrimSpace(string(out)))
		})
	}
}

// copyIntoContext copies file or directory m (under root) to dest the way COPY does (a
// directory's contents, a file by its name; with --parents, at its path from the context root),
// skipping what the ignore file excludes. It returns how many files it copied.
func copyIntoContext(t *testing.T, ignore *patternmatcher.PatternMatcher, root, m, dest string, parents bool) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if ignored, err := ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || ignored {
			return err
		}
		target := filepath.Join(dest, filepath.Base(p))
		switch {
		case parents:
			target = filepath.Join(dest, rel)
		case p != m: // inside a copied directory
			inner, _ := filepath.Rel(m, p)
			target = filepath.Join(dest, inner)
		}
		n++
		return copyFile(p, target)
	})
	require.NoError(t, err)
	return n
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
