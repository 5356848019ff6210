package topicconfig

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

const docPath = "../../docs/CONFIGS.md"

// TestConfigsDoc keeps docs/CONFIGS.md what the table says:
// LONGBOAT_CONFIGS_DOC=1 rewrites it, otherwise a difference fails.
func TestConfigsDoc(t *testing.T) {
	want := renderDoc()
	if os.Getenv("LONGBOAT_CONFIGS_DOC") != "" {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote docs/CONFIGS.md")
		return
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/CONFIGS.md differs from the config table: run LONGBOAT_CONFIGS_DOC=1 go test ./internal/topicconfig -run TestConfigsDoc")
	}
}

func renderDoc() string {
	var b strings.Builder
	b.WriteString("# Topic configs\n\n")
	b.WriteString("Generated from internal/topicconfig by `LONGBOAT_CONFIGS_DOC=1 go test ./internal/topicconfig -run TestConfigsDoc`;\n")
	b.WriteString("do not edit by hand.\n\n")
	b.WriteString("Longboat accepts every topic config of Kafka 4.1 at CreateTopics, AlterConfigs and\n")
	b.WriteString("IncrementalAlterConfigs (APPEND and SUBTRACT on the list ones), with Kafka's types, valid values\n")
	b.WriteString("and error messages (INVALID_CONFIG), and DescribeConfigs lists all of them with their source,\n")
	b.WriteString("broker synonyms, type and a line of documentation. Unknown names are refused as Kafka refuses them.\n\n")
	b.WriteString("The broker default is the broker config Kafka reads the default from. Longboat sets four of them\n")
	b.WriteString("by flag: `--log-retention-ms`, `--log-retention-bytes`, `--segment-bytes` and `--log-roll-ms`;\n")
	b.WriteString("the others are Kafka's defaults. `--min-segment-bytes` (default 1048576, Kafka 4's minimum)\n")
	b.WriteString("bounds segment.bytes; tests lower it for many small segments. Every broker default can also be set\n")
	b.WriteString("for the whole cluster at runtime, as Kafka's dynamic default broker configs (IncrementalAlterConfigs\n")
	b.WriteString("on the broker resource \"\", `kafka-configs.sh --entity-type brokers --entity-default`, `longboat\n")
	b.WriteString("configs alter --entity-type brokers --entity-default`): such a value comes after a topic's own and\n")
	b.WriteString("before the flag, on every broker alike (DescribeConfigs source DYNAMIC_DEFAULT_BROKER_CONFIG).\n\n")
	b.WriteString("**applied**: the value changes what Longboat does. **no effect**: accepted, stored and described,\n")
	b.WriteString("but Longboat behaves the same whatever it says, for the reason given.\n\n")
	b.WriteString("| config | type | default | valid values | broker default | in Longboat |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, d := range defs {
		status := "no effect"
		if d.Applied {
			status = "applied"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | **%s**: %s |\n", d.Name, d.Type, cell(d.Default, "(empty)"), cell(d.Valid(), "any"), cell(d.Broker, "none"), status, d.Effect)
	}
	return b.String()
}

// cell quotes s, or says what empty means, and keeps | out of the table.
func cell(s, empty string) string {
	if s == "" {
		return empty
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}
