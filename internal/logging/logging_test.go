package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The console format colours only a terminal: escape codes in a file or a
// container's log are noise, so "auto" leaves them out of anything else
// (a buffer, a file, /dev/null), and "always" keeps them for `longboat
// dev`, whose brokers write to a pipe it copies to a terminal.
func TestConsoleColoursOnlyATerminal(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, f := range []*os.File{devNull, file} {
		if IsTerminal(f) {
			t.Errorf("%s taken for a terminal", f.Name())
		}
	}
	for _, tc := range []struct {
		color     string
		wantColor bool
	}{{"auto", false}, {"never", false}, {"always", true}} {
		var buf bytes.Buffer
		log, err := NewWithColor(&buf, "info", "console", tc.color)
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Str("k", "v").Msg("hello")
		if !strings.Contains(buf.String(), "hello") {
			t.Fatalf("--log-color %s: no line written: %q", tc.color, buf.String())
		}
		if got := strings.Contains(buf.String(), "\x1b["); got != tc.wantColor {
			t.Errorf("--log-color %s to a buffer: escape codes %v, want %v: %q", tc.color, got, tc.wantColor, buf.String())
		}
	}
	if _, err := NewWithColor(&bytes.Buffer{}, "info", "console", "rainbow"); err == nil {
		t.Error("log color rainbow accepted")
	}
}
