package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record is what a record format can print.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// RecordFormat prints records by a kcat -f format string.
type RecordFormat struct {
	parts []func(b []byte, r *Record) []byte
}

// ParseRecordFormat compiles a kcat-style format: %t topic, %p partition,
// %o offset, %k key, %s value, %K key size, %S value size, %h headers
// (k=v,k2=v2), %T timestamp (Unix milliseconds), %% a percent sign, and the
// escapes \n \t \r \\.
func ParseRecordFormat(f string) (*RecordFormat, error) {
	rf := &RecordFormat{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			s := string(lit)
			rf.parts = append(rf.parts, func(b []byte, _ *Record) []byte { return append(b, s...) })
			lit = nil
		}
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if (c != '%' && c != '\\') || i+1 == len(f) {
			if c == '%' || c == '\\' {
				return nil, fmt.Errorf("format %q ends in a lone %c", f, c)
			}
			lit = append(lit, c)
			continue
		}
		i++
		if c == '\\' {
			esc, ok := map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', '\\': '\\'}[f[i]]
			if !ok {
				return nil, fmt.Errorf("format %q: unknown escape \\%c (use \\n \\t \\r \\\\)", f, f[i])
			}
			lit = append(lit, esc)
			continue
		}
		if f[i] == '%' {
			lit = append(lit, '%')
			continue
		}
		p, ok := placeholders[f[i]]
		if !ok {
			return nil, fmt.Errorf("format %q: unknown placeholder %%%c (use %%t %%p %%o %%k %%s %%K %%S %%h %%T %%%%)", f, f[i])
		}
		flush()
		rf.parts = append(rf.parts, p)
	}
	flush()
	return rf, nil
}

var placeholders = map[byte]func(b []byte, r *Record) []byte{
	't': func(b []byte, r *Record) []byte { return append(b, r.Topic...) },
	'p': func(b []byte, r *Record) []byte { return strconv.AppendInt(b, int64(r.Partition), 10) },
	'o': func(b []byte, r *Record) []byte { return strconv.AppendInt(b, r.Offset, 10) },
	'k': func(b []byte, r *Record) []byte { return append(b, r.Key...) },
	's': func(b []byte, r *Record) []byte { return append(b, r.Value...) },
	'K': func(b []byte, r *Record) []byte { return strconv.AppendInt(b, int64(len(r.Key)), 10) },
	'S': func(b []byte, r *Record) []byte { return strconv.AppendInt(b, int64(len(r.Value)), 10) },
	'T': func(b []byte, r *Record) []byte { return strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10) },
	'h': func(b []byte, r *Record) []byte {
		hs := make([]string, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = h.Key + "=" + string(h.Value)
		}
		return append(b, strings.Join(hs, ",")...)
	},
}

// Append appends r as the format prints it to b.
func (rf *RecordFormat) Append(b []byte, r *Record) []byte {
	for _, p := range rf.parts {
		b = p(b, r)
	}
	return b
}
