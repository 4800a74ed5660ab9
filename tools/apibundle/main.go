// Command apibundle turns an API document of api/ (OpenAPI 3.0 or AsyncAPI 3.0) and the files it
// references (api/common.yaml, api/event-schemas.yaml) into one self-contained JSON document: each
// component referenced in another file is copied into the document's own components, under its
// own name, and the reference points there. Nothing else changes: keys keep their order and
// every scalar its text, so 9223372036854775807 stays exactly that (a JavaScript bundler writes
// 9223372036854776000, a bound beyond int64 for any client that reads integers exactly). See
// docs/adr/0009-shared-components.md.
//
//	apibundle -o api/bundled/product-service.json api/product-service.yaml
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apibundle:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("apibundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output file (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		return errors.New("usage: apibundle -o out.json in.yaml")
	}
	doc, err := Bundle(fs.Arg(0))
	if err != nil {
		return err
	}
	return os.WriteFile(*out, doc, 0o644)
}

// Bundle returns the document at path, with every component it references in other files copied
// in, as indented JSON.
func Bundle(path string) ([]byte, error) {
	b := &bundler{files: map[string]*yaml.Node{}, origin: map[string]string{}}
	root, err := b.load(path)
	if err != nil {
		return nil, err
	}
	b.root, b.rootFile = root, filepath.Clean(path)
	if err := b.rewrite(root, b.rootFile); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, root, ""); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

type bundler struct {
	files    map[string]*yaml.Node // parsed files by clean path: the mapping node of each document
	root     *yaml.Node
	rootFile string
	origin   map[string]string // "kind/name" in the root's components → the file it came from
}

func (b *bundler) load(path string) (*yaml.Node, error) {
	path = filepath.Clean(path)
	if n, ok := b.files[path]; ok {
		return n, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a YAML mapping", path)
	}
	b.files[path] = doc.Content[0]
	return doc.Content[0], nil
}

// rewrite walks n, which belongs to file, and makes every reference local to the root document.
func (b *bundler) rewrite(n *yaml.Node, file string) error {
	switch n.Kind {
	case yaml.AliasNode:
		return fmt.Errorf("%s:%d: YAML aliases are not supported", file, n.Line)
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := b.rewrite(c, file); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "$ref" && v.Kind == yaml.ScalarNode {
				local, err := b.reference(v.Value, file)
				if err != nil {
					return fmt.Errorf("%s:%d: %w", file, v.Line, err)
				}
				v.Value, v.Style = local, yaml.SingleQuotedStyle
				continue
			}
			if err := b.rewrite(v, file); err != nil {
				return err
			}
		}
	}
	return nil
}

// reference returns the root-local form of ref (found in file), copying its target into the
// root's components first when it lives in another file.
func (b *bundler) reference(ref, file string) (string, error) {
	target, pointer, _ := strings.Cut(ref, "#")
	targetFile := file
	if target != "" {
		targetFile = filepath.Clean(filepath.Join(filepath.Dir(file), target))
	}
	if targetFile == b.rootFile {
		return "#" + pointer, nil
	}
	parts := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	if len(parts) != 3 || parts[0] != "components" {
		return "", fmt.Errorf("reference %s: only components of another file can be referenced", ref)
	}
	kind, name := parts[1], parts[2]
	key := kind + "/" + name
	local := "#/components/" + key
	if from, ok := b.origin[key]; ok {
		if from != targetFile {
			return "", fmt.Errorf("reference %s: components.%s.%s already comes from %s", ref, kind, name, from)
		}
		return local, nil
	}
	// The document may name the component itself only as a reference to it (OpenAPI 3.0 wants
	// securitySchemes declared in the document): the copy replaces that reference.
	if own := find(find(find(b.root, "components"), kind), name); own != nil &&
		(len(own.Content) != 2 || own.Content[0].Value != "$ref" || own.Content[1].Value != ref) {
		return "", fmt.Errorf("reference %s: the document has its own components.%s.%s", ref, kind, name)
	}
	doc, err := b.load(targetFile)
	if err != nil {
		return "", err
	}
	src := find(find(find(doc, "components"), kind), name)
	if src == nil {
		return "", fmt.Errorf("reference %s: %s has no components.%s.%s", ref, targetFile, kind, name)
	}
	b.origin[key] = targetFile
	cp := deepCopy(src)
	set(put(put(b.root, "components"), kind), name, cp)
	return local, b.rewrite(cp, targetFile)
}

// find returns the value of key in mapping m, or nil.
func find(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// put returns the value of key in mapping m, appending an empty mapping when it is missing.
func put(m *yaml.Node, key string) *yaml.Node {
	if v := find(m, key); v != nil {
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v
}

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func deepCopy(n *yaml.Node) *yaml.Node {
	cp := *n
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		cp.Content[i] = deepCopy(c)
	}
	return &cp
}

// jsonNumber is RFC 8259's number: YAML numbers in any other form (0x1F, 1_000, .inf) are refused
// rather than converted, so that what is written is what the source says.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// writeJSON writes n as JSON indented by two spaces per level, scalars as written in the source.
func writeJSON(w *bytes.Buffer, n *yaml.Node, indent string) error {
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			w.WriteString("{}")
			return nil
		}
		w.WriteString("{\n")
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.WriteString(indent + "  " + quoteJSON(n.Content[i].Value) + ": ")
			if err := writeJSON(w, n.Content[i+1], indent+"  "); err != nil {
				return err
			}
			if i+2 < len(n.Content) {
				w.WriteByte(',')
			}
			w.WriteByte('\n')
		}
		w.WriteString(indent + "}")
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			w.WriteString("[]")
			return nil
		}
		w.WriteString("[\n")
		for i, c := range n.Content {
			w.WriteString(indent + "  ")
			if err := writeJSON(w, c, indent+"  "); err != nil {
				return err
			}
			if i+1 < len(n.Content) {
				w.WriteByte(',')
			}
			w.WriteByte('\n')
		}
		w.WriteString(indent + "]")
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			w.WriteString(quoteJSON(n.Value))
		case "!!int", "!!float":
			if !jsonNumber.MatchString(n.Value) {
				return fmt.Errorf("line %d: %q is not a JSON number", n.Line, n.Value)
			}
			w.WriteString(n.Value)
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return err
			}
			w.WriteString(strconv.FormatBool(v))
		case "!!null":
			w.WriteString("null")
		default:
			return fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, n.ShortTag())
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

// quoteJSON quotes s as a JSON string (strconv.Quote writes Go escapes such as \x1f that JSON lacks).
func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
