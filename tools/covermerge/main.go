// Command covermerge merges Go coverage profiles written by several test binaries (one per
// module, each run with -coverpkg over every module), drops generated code (*.gen.go) and
// nothing else, prints per-package and total statement coverage, writes the merged profile, and
// fails when the total is below the committed floor.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"sort"
	"strconv"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "covermerge:", err)
		os.Exit(1)
	}
}

type block struct {
	stmts   int
	covered bool
}

func run(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("covermerge", flag.ContinueOnError)
	outFile := fs.String("o", "coverage/merged.out", "merged profile to write")
	floorFile := fs.String("floor", "", "file holding the minimum total percentage")
	perPkg := fs.Bool("packages", true, "print per-package figures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: covermerge [-o merged.out] [-floor file] profile…")
	}
	blocks := map[string]*block{} // "file:range" → block
	for _, p := range fs.Args() {
		if err := readProfile(p, blocks); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(blocks))
	for k := range blocks {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	f, err := os.Create(*outFile)
	if err != nil {
		return fmt.Errorf("write merged profile: %w", err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "mode: set")
	type tally struct{ total, covered int }
	pkgs := map[string]*tally{}
	var all tally
	for _, k := range keys {
		b := blocks[k]
		c := 0
		if b.covered {
			c = 1
		}
		fmt.Fprintf(w, "%s %d %d\n", k, b.stmts, c)
		file := k[:strings.LastIndexByte(k, ':')]
		pkg := path.Dir(file)
		t := pkgs[pkg]
		if t == nil {
			t = &tally{}
			pkgs[pkg] = t
		}
		t.total += b.stmts
		all.total += b.stmts
		if b.covered {
			t.covered += b.stmts
			all.covered += b.stmts
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write merged profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write merged profile: %w", err)
	}
	pct := func(t tally) float64 {
		if t.total == 0 {
			return 100
		}
		return 100 * float64(t.covered) / float64(t.total)
	}
	if *perPkg {
		names := make([]string, 0, len(pkgs))
		for n := range pkgs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(out, "%6.1f%%  %5d stmts  %s\n", pct(*pkgs[n]), pkgs[n].total, n)
		}
	}
	total := pct(all)
	fmt.Fprintf(out, "total: %.1f%% of %d statements of hand-written code (generated *.gen.go excluded)\n", total, all.total)
	if *floorFile != "" {
		raw, err := os.ReadFile(*floorFile)
		if err != nil {
			return fmt.Errorf("read coverage floor: %w", err)
		}
		floor, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
		if err != nil {
			return fmt.Errorf("coverage floor %q: %w", raw, err)
		}
		if total < floor {
			return fmt.Errorf("total coverage %.1f%% is below the floor %.1f%% in %s", total, floor, *floorFile)
		}
		fmt.Fprintf(out, "coverage floor %.1f%%: ok\n", floor)
	}
	return nil
}

// readProfile adds the blocks of one profile; a block is covered when any profile covered it.
func readProfile(name string, blocks map[string]*block) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read profile: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		// file.go:l.c,l.c stmts count
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return fmt.Errorf("%s: malformed line %q", name, line)
		}
		file := fields[0][:strings.LastIndexByte(fields[0], ':')]
		if strings.HasSuffix(file, ".gen.go") {
			continue
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s: malformed line %q", name, line)
		}
		b := blocks[fields[0]]
		if b == nil {
			b = &block{stmts: stmts}
			blocks[fields[0]] = b
		}
		if count > 0 {
			b.covered = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}
