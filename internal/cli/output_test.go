package cli

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestPrintTableAligns(t *testing.T) {
	a := &Grid{Header: []string{"TOPIC", "PARTITIONS"}}
	a.Add("orders", 6)
	a.Add("a-much-longer-name", 12)
	b := &Grid{Title: "Second", Header: []string{"X"}}
	b.Add(1)
	var out bytes.Buffer
	if err := Print(&out, Table, nil, a, b); err != nil {
		t.Fatal(err)
	}
	want := "TOPIC               PARTITIONS\n" +
		"orders              6\n" +
		"a-much-longer-name  12\n" +
		"\nSecond\nX\n1\n"
	if out.String() != want {
		t.Fatalf("table:\n%q\nwant\n%q", out.String(), want)
	}
}

func TestPrintJSONIgnoresGrids(t *testing.T) {
	var out bytes.Buffer
	doc := map[string]any{"topic": "orders", "partitions": 6}
	if err := Print(&out, JSON, doc, &Grid{Header: []string{"IGNORED"}}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got["topic"] != "orders" || got["partitions"] != 6.0 {
		t.Fatalf("json %q (%v): want the document", out.String(), err)
	}
}

func TestParseFormat(t *testing.T) {
	for _, ok := range []string{"table", "json"} {
		if f, err := ParseFormat(ok); err != nil || string(f) != ok {
			t.Fatalf("ParseFormat(%q) = %q, %v", ok, f, err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Fatal("ParseFormat(yaml): no error")
	}
}
