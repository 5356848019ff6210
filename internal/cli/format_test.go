package cli

import (
	"testing"
	"time"
)

func TestRecordFormat(t *testing.T) {
	r := &Record{Topic: "orders", Partition: 2, Offset: 41, Key: []byte("k1"), Value: []byte("hello"),
		Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}, Timestamp: time.UnixMilli(1700000000123)}
	for format, want := range map[string]string{
		`%s\n`:                        "hello\n",
		`%t/%p@%o key=%k (%K) %S\t%T`: "orders/2@41 key=k1 (2) 5\t1700000000123",
		`[%h] 100%% \\`:               "[a=1,b=2] 100% \\",
		`plain`:                       "plain",
	} {
		rf, err := ParseRecordFormat(format)
		if err != nil {
			t.Fatalf("%q: %v", format, err)
		}
		if got := string(rf.Append(nil, r)); got != want {
			t.Errorf("%q printed %q, want %q", format, got, want)
		}
	}
	for _, bad := range []string{`%x`, `\q`, `ends in %`, `ends in \`} {
		if _, err := ParseRecordFormat(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
