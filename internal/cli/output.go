// Package cli holds the output of the longboat client commands: aligned
// tables for people, JSON for scripts, chosen by one --output flag.
package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Format is how a command prints its result.
type Format string

// The formats --output accepts.
const (
	Table Format = "table"
	JSON  Format = "json"
)

// ParseFormat checks an --output value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Table, JSON:
		return f, nil
	}
	return "", fmt.Errorf("--output %q: use table or json", s)
}

// Grid is one aligned table: a header row and data rows. An empty Title
// prints no title line.
type Grid struct {
	Title  string
	Header []string
	Rows   [][]string
}

// Add appends a row, each cell formatted with %v.
func (g *Grid) Add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	g.Rows = append(g.Rows, row)
}

// Print writes doc as indented JSON when f is JSON, else the grids one after
// another, separated by a blank line. Commands pass the same result both
// ways, so a script sees every field a person sees.
func Print(w io.Writer, f Format, doc any, grids ...*Grid) error {
	if f == JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	for i, g := range grids {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := g.write(w); err != nil {
			return err
		}
	}
	return nil
}

func (g *Grid) write(w io.Writer) error {
	if g.Title != "" {
		fmt.Fprintln(w, g.Title)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(g.Header, "\t"))
	for _, r := range g.Rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
